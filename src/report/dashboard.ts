import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { InvalidExperimentIdError } from '../storage/keys';
import type { ArtifactStore } from '../storage/store';
import { escapeHtml } from './format';
import { buildReport } from './index';
import { listExperimentIds, ReportInputError } from './load';

/**
 * `istar dashboard`: a local HTTP server (loopback only) listing the experiments in S3 and the reports saved
 * under the reports folder. `/report?id=a&id=b` renders a report of the selected experiments on request.
 */

export interface DashboardOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Local folder of saved reports (`istar report` output), served under /saved/. */
  reportsDir: string;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type = 'text/html; charset=utf-8',
): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
  '<style>body{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:0 auto;padding:1rem}td,th{padding:.2rem .6rem;text-align:left}</style>' +
  `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

async function savedReports(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    const withIndex = await Promise.all(
      entries
        .filter((e) => e.isDirectory())
        .map(async (e) =>
          (await stat(path.join(dir, e.name, 'index.html')).catch(() => undefined)) ? e.name : undefined,
        ),
    );
    return withIndex.filter((n): n is string => n !== undefined).sort();
  } catch {
    return [];
  }
}

async function indexPage(store: ArtifactStore, reportsDir: string): Promise<string> {
  const [ids, saved] = await Promise.all([listExperimentIds(store), savedReports(reportsDir)]);
  const rows = ids
    .map(
      (id) =>
        `<tr><td><input type="checkbox" name="id" value="${escapeHtml(id)}"></td>` +
        `<td><a href="/report?id=${encodeURIComponent(id)}">${escapeHtml(id)}</a></td></tr>`,
    )
    .join('');
  const experiments = ids.length
    ? `<form action="/report" method="get"><table><tr><th></th><th>experiment</th></tr>${rows}</table>` +
      '<button type="submit">compare selected</button></form>'
    : `<p>No experiments in s3://${escapeHtml(store.bucket)}/experiments/.</p>`;
  const local = saved.length
    ? `<ul>${saved.map((n) => `<li><a href="/saved/${encodeURIComponent(n)}/index.html">${escapeHtml(n)}</a></li>`).join('')}</ul>`
    : `<p>None in ${escapeHtml(reportsDir)}.</p>`;
  return page(
    'iStar dashboard',
    `<h2>Experiments in s3://${escapeHtml(store.bucket)}</h2>${experiments}<h2>Saved reports</h2>${local}`,
  );
}

async function handle(
  store: ArtifactStore,
  options: DashboardOptions,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET') return send(res, 405, page('Method not allowed', ''));
  if (url.pathname === '/') return send(res, 200, await indexPage(store, options.reportsDir));
  if (url.pathname === '/report') {
    const ids = url.searchParams.getAll('id').filter(Boolean);
    if (ids.length === 0)
      return send(res, 400, page('No experiment selected', '<p><a href="/">back</a></p>'));
    try {
      return send(res, 200, (await buildReport(store, ids, { png: false })).html);
    } catch (err) {
      if (err instanceof ReportInputError || err instanceof InvalidExperimentIdError)
        return send(
          res,
          404,
          page('No report', `<p>${escapeHtml((err as Error).message)}</p><p><a href="/">back</a></p>`),
        );
      throw err;
    }
  }
  if (url.pathname.startsWith('/saved/')) {
    const root = path.resolve(options.reportsDir);
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname.slice('/saved/'.length));
    } catch {
      return send(res, 400, page('Bad path', ''));
    }
    const file = path.resolve(root, relative);
    if (!file.startsWith(root + path.sep)) return send(res, 403, page('Forbidden', ''));
    try {
      return send(res, 200, await readFile(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
    } catch {
      return send(res, 404, page('Not found', `<p>${escapeHtml(url.pathname)}</p>`));
    }
  }
  return send(res, 404, page('Not found', `<p>${escapeHtml(url.pathname)}</p>`));
}

export async function startDashboard(store: ArtifactStore, options: DashboardOptions): Promise<Dashboard> {
  const server = createServer((req, res) => {
    handle(store, options, req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, page('Error', `<pre>${escapeHtml((err as Error).stack ?? err)}</pre>`));
      else res.end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
