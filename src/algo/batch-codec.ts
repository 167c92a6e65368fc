import { gunzipSync, gzipSync } from 'node:zlib';
import { AlgoInputError } from './errors';
import { validateBatch, type RolloutBatch, type Step } from './batch';

/**
 * Compact bytes of a RolloutBatch for S3: `ISRB` magic, u32 version, then gzip of
 * [u32 header length][header JSON][pad to 8][float64 oldLogProbs][int32 context tokens][int32 action tokens].
 * The header holds everything but the token arrays (rewards, flags, anchors, texts, array lengths).
 * Lossless: decodeBatch(encodeBatch(b)) deep-equals b.
 */
const MAGIC = 'ISRB';
const VERSION = 1;

/** Raised when bytes are not a batch this code wrote; never worth retrying. */
export class BatchCorruptError extends AlgoInputError {
  override name = 'BatchCorruptError';
}

interface StepHeader {
  c: number;
  a: number;
  r: number;
  v: boolean;
  k: string;
  o?: string;
  t?: string;
}
interface Header {
  groups: {
    groupId: string;
    taskSeed: number;
    trajectories: {
      outcomeReward: number;
      success: boolean;
      score: number;
      length: number;
      steps: StepHeader[];
    }[];
  }[];
}

export function encodeBatch(batch: RolloutBatch): Buffer {
  validateBatch(batch);
  let nCtx = 0;
  let nAct = 0;
  const header: Header = {
    groups: batch.groups.map((g) => ({
      groupId: g.groupId,
      taskSeed: g.taskSeed,
      trajectories: g.trajectories.map((t) => ({
        outcomeReward: t.outcomeReward,
        success: t.success,
        score: t.score,
        length: t.length,
        steps: t.steps.map((s) => {
          nCtx += s.context.length;
          nAct += s.action.length;
          const h: StepHeader = {
            c: s.context.length,
            a: s.action.length,
            r: s.envReward,
            v: s.valid,
            k: s.anchor,
          };
          if (s.observationText !== undefined) h.o = s.observationText;
          if (s.actionText !== undefined) h.t = s.actionText;
          return h;
        }),
      })),
    })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const floatsAt = align8(4 + headerBytes.length);
  const total = floatsAt + nAct * 8 + nCtx * 4 + nAct * 4;
  const payload = new ArrayBuffer(total);
  const view = new DataView(payload);
  view.setUint32(0, headerBytes.length, true);
  new Uint8Array(payload, 4, headerBytes.length).set(headerBytes);
  const lp = new Float64Array(payload, floatsAt, nAct);
  const ctx = new Int32Array(payload, floatsAt + nAct * 8, nCtx);
  const act = new Int32Array(payload, floatsAt + nAct * 8 + nCtx * 4, nAct);
  let ic = 0;
  let ia = 0;
  for (const g of batch.groups)
    for (const t of g.trajectories)
      for (const s of t.steps) {
        ctx.set(s.context, ic);
        ic += s.context.length;
        act.set(s.action, ia);
        lp.set(s.oldLogProbs, ia);
        ia += s.action.length;
      }
  const prefix = Buffer.alloc(8);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(VERSION, 4);
  return Buffer.concat([prefix, gzipSync(Buffer.from(payload))]);
}

export function decodeBatch(buf: Uint8Array): RolloutBatch {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.length < 8 || bytes.toString('ascii', 0, 4) !== MAGIC)
    throw new BatchCorruptError('not a rollout batch: missing ISRB magic');
  const version = bytes.readUInt32LE(4);
  if (version !== VERSION)
    throw new BatchCorruptError(
      `rollout batch format version ${version} is not supported (this code reads ${VERSION})`,
    );
  let raw: Buffer;
  try {
    raw = gunzipSync(bytes.subarray(8));
  } catch (err) {
    throw new BatchCorruptError(`rollout batch payload does not gunzip: ${(err as Error).message}`);
  }
  // Copy into a fresh, aligned ArrayBuffer so typed-array views are legal.
  const payload = new Uint8Array(raw.length);
  payload.set(raw);
  const view = new DataView(payload.buffer);
  const headerLength = view.getUint32(0, true);
  if (4 + headerLength > payload.length)
    throw new BatchCorruptError('rollout batch header runs past the end of the payload');
  let header: Header;
  try {
    header = JSON.parse(Buffer.from(payload.buffer, 4, headerLength).toString('utf8')) as Header;
  } catch (err) {
    throw new BatchCorruptError(`rollout batch header is not JSON: ${(err as Error).message}`);
  }
  if (!header || !Array.isArray(header.groups))
    throw new BatchCorruptError('rollout batch header has no groups array');
  let nCtx = 0;
  let nAct = 0;
  for (const g of header.groups)
    for (const t of g.trajectories)
      for (const s of t.steps) {
        nCtx += s.c;
        nAct += s.a;
      }
  const floatsAt = align8(4 + headerLength);
  if (floatsAt + nAct * 8 + nCtx * 4 + nAct * 4 !== payload.length)
    throw new BatchCorruptError(
      `rollout batch payload is ${payload.length} bytes; its header describes ${floatsAt + nAct * 12 + nCtx * 4}`,
    );
  const lp = new Float64Array(payload.buffer, floatsAt, nAct);
  const ctx = new Int32Array(payload.buffer, floatsAt + nAct * 8, nCtx);
  const act = new Int32Array(payload.buffer, floatsAt + nAct * 8 + nCtx * 4, nAct);
  let ic = 0;
  let ia = 0;
  const batch: RolloutBatch = {
    groups: header.groups.map((g) => ({
      groupId: g.groupId,
      taskSeed: g.taskSeed,
      trajectories: g.trajectories.map((t) => ({
        steps: t.steps.map((h) => {
          const s: Step = {
            context: Array.from(ctx.subarray(ic, (ic += h.c))),
            action: Array.from(act.subarray(ia, ia + h.a)),
            oldLogProbs: Array.from(lp.subarray(ia, (ia += h.a))),
            envReward: h.r,
            valid: h.v,
            anchor: h.k,
          };
          if (h.o !== undefined) s.observationText = h.o;
          if (h.t !== undefined) s.actionText = h.t;
          return s;
        }),
        outcomeReward: t.outcomeReward,
        success: t.success,
        score: t.score,
        length: t.length,
      })),
    })),
  };
  return batch;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
