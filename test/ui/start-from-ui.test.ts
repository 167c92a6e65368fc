import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startEphemeralStack, type EphemeralStack } from '../../infra/ephemeral';
import { killSpawnedWorkers, spawnWorkerProcess } from '../helpers/faults';

/**
 * The Temporal Web UI's Start Workflow form, driven in Debian's Chromium: `{}` starts a sensible run,
 * a small JSON config runs to completion, an invalid config fails with the bad field named.
 * Own stack: `{}` uses the default task queues (istar, istar-rollout, istar-trainer). The workers run in
 * their own process: training blocks its event loop, which would starve Playwright's in this one.
 */
const CHROMIUM = process.env.ISTAR_CHROMIUM ?? '/usr/bin/chromium';

let stack: EphemeralStack;
let browser: Browser;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium not found at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set ISTAR_CHROMIUM`,
    );
  stack = await startEphemeralStack();
  connection = await Connection.connect({ address: stack.temporal.address });
  client = new Client({ connection });
  spawnWorkerProcess(stack, {}, 'workflow');
  spawnWorkerProcess(stack, {}, 'rollout,trainer');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await killSpawnedWorkers();
  await connection?.close();
  await stack?.stop();
}, 120_000);

const ui = (path: string) => `http://127.0.0.1:${stack.temporal.uiPort}${path}`;

async function startFromUi(page: Page, workflowId: string, input: string): Promise<void> {
  await page.goto(ui('/namespaces/default/workflows/start-workflow'));
  await page.locator('#workflowId').fill(workflowId);
  await page.locator('#taskQueue').fill('istar');
  await page.locator('#workflowType').fill('istarTraining');
  await page.locator('[aria-label="Data"]').click();
  await page.keyboard.insertText(input);
  // Leave the editor so it commits (and pretty-prints) the JSON before the form reads it.
  await page.getByText('Single JSON payload supported.').click();
  await page.waitForTimeout(500);
  await page.getByTestId('start-workflow-button').click();
  await page.getByText('Workflow started successfully').first().waitFor({ timeout: 30_000 });
}

/**
 * Reload the workflow's page until its text matches every pattern. The header (status) renders before the
 * input/result/failure panels, so each load is watched for a while before the next reload.
 */
async function waitForPage(
  page: Page,
  workflowId: string,
  patterns: RegExp[],
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    await page.goto(ui(`/namespaces/default/workflows/${workflowId}`));
    for (let i = 0; i < 10 && Date.now() < deadline; i++) {
      await page.waitForTimeout(1000);
      text = await page.locator('body').innerText();
      if (patterns.every((p) => p.test(text))) return text;
    }
  }
  throw new Error(
    `the UI page of ${workflowId} never matched ${patterns.join(' and ')}; last text:\n${text.slice(0, 2000)}`,
  );
}

describe('starting istarTraining from the Temporal UI', () => {
  it('`{}` starts a sensible iStar run on Sokoban that makes progress', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await startFromUi(page, 'ui-defaults', '{}');
    onTestFinished(async () => {
      await client.workflow
        .getHandle('ui-defaults')
        .terminate('test done: the default run is too long for a test');
    });
    await waitForPage(page, 'ui-defaults', [/\bRUNNING\b/, /sftBasePolicy/], 90_000);
    const progress = (await client.workflow.getHandle('ui-defaults').query('progress')) as {
      algorithm: string;
      env: string;
      iterations: number;
      stage: string;
    };
    expect(progress).toMatchObject({
      algorithm: 'istar',
      env: 'sokoban',
      iterations: 20,
      stage: 'sftBasePolicy',
    });
  }, 180_000);

  it('a small JSON config runs to completion and the UI shows it', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const config = {
      iterations: 1,
      groups: 2,
      groupSize: 2,
      evalEpisodes: 2,
      model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, contextLength: 160 },
      sft: { episodes: 4, epochs: 1 },
    };
    await startFromUi(page, 'ui-small', JSON.stringify(config));
    // The status, and the result panel: one iteration, its trained policy checkpoint.
    await waitForPage(page, 'ui-small', [/\bCOMPLETED\b/, /checkpoints\/policy\/000001\//], 150_000);
    const result = (await client.workflow.getHandle('ui-small').result()) as { iterations: number };
    expect(result.iterations).toBe(1);
  }, 200_000);

  it('an invalid config fails at once with the bad field named', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await startFromUi(page, 'ui-invalid', JSON.stringify({ groups: -2, env: 'chess' }));
    // The status, and the failure naming both bad fields.
    await waitForPage(page, 'ui-invalid', [/\bFAILED\b/, /groups: Too small/, /env: Invalid option/], 60_000);
  }, 90_000);
});
