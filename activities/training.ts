import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { activityInfo, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { decodeBatch, encodeBatch, type PreferencePair, type RolloutBatch } from '../src/algo';
import { parseRunConfig, type RunConfig } from '../src/config/run-config';
import { initBackend, modelFromCheckpoint, modelToCheckpoint, type TransformerLM } from '../src/model';
import {
  collectShard,
  computeAdvantages,
  envOptionsIdentity,
  evaluatePolicy,
  initialPolicy,
  mergeBatches,
  preferencePairs,
  runSetup,
  sftBasePolicy,
  trainPolicy,
  trainPrm,
  type AdvantageResult,
  type RunSetup,
} from '../src/pipeline';
import { checkpointPrefix, iterationKey, iterationPrefix } from '../src/storage/keys';
import { isPermanentStorageError, type ArtifactStore } from '../src/storage/store';
import { asActivityError } from './experiment';
import { extensionState } from './extend';
import type { TrainingState } from '../workflows/training';

/**
 * The stages of a training iteration as activities (DESIGN.md section 3): read inputs by key, call
 * src/pipeline, write outputs under deterministic keys (a retry overwrites, never duplicates), heartbeat,
 * and return keys + metrics. Long loops save a partial checkpoint and heartbeat its key, so a retried
 * attempt continues from it.
 */

export interface TrainingActivityDeps {
  store: ArtifactStore;
  /** Seconds between partial checkpoints of long loops (ISTAR_PARTIAL_CHECKPOINT_SECONDS, default 30). */
  partialCheckpointSeconds?: number;
}

export interface StageInput {
  config: RunConfig;
  iteration: number;
}

export interface StageOutput {
  metrics: Record<string, number>;
}

/** Heartbeat details of a resumable loop: where its partial checkpoint is and how far it got. */
interface ResumePoint {
  partialPrefix: string;
  step: number;
}

const json = (value: unknown) => gzipSync(Buffer.from(JSON.stringify(value)));
const fromJson = <T>(bytes: Uint8Array): T => JSON.parse(gunzipSync(bytes).toString('utf8')) as T;

/**
 * Default seconds between partial checkpoints. A save of the default Sokoban policy with its Adam state
 * costs ~0.1 s, so 30 s keeps it under 0.5% of a training activity while a crash loses at most 30 s.
 */
export const DEFAULT_PARTIAL_CHECKPOINT_SECONDS = 30;

/**
 * What determines an SFT base: the env, the SFT settings, the model (with or without a value head), the
 * prompt, the seed, the vocabulary and the env's options (when there are any, so that bases stored before
 * envOptions existed keep their identity). A stored base with another identity is trained again.
 */
export function sftIdentity(setup: RunSetup): string {
  const { config } = setup;
  return createHash('sha256')
    .update(
      JSON.stringify([
        config.env,
        config.sft,
        setup.modelConfig,
        config.promptInstruction,
        config.historyLength,
        config.seed,
        setup.maxActionTokens,
        setup.tokenizer.vocab,
        ...envOptionsIdentity(config),
      ]),
    )
    .digest('hex');
}

/** ISTAR_PARTIAL_CHECKPOINT_SECONDS as a number of seconds >= 0, or an error naming the bad value. */
export function partialCheckpointSecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ISTAR_PARTIAL_CHECKPOINT_SECONDS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_PARTIAL_CHECKPOINT_SECONDS;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new Error(
      `ISTAR_PARTIAL_CHECKPOINT_SECONDS must be a number of seconds >= 0 (0 = after every step), got ${JSON.stringify(raw)}`,
    );
  return seconds;
}

export function createTrainingActivities({ store, partialCheckpointSeconds }: TrainingActivityDeps) {
  const partialEvery = (partialCheckpointSeconds ?? partialCheckpointSecondsFromEnv()) * 1000;

  async function setupOf(input: StageInput): Promise<RunSetup> {
    await initBackend();
    return runSetup(parseRunConfig(input.config));
  }

  async function loadModel(setup: RunSetup, prefix: string): Promise<TransformerLM> {
    return modelFromCheckpoint(await store.getCheckpoint(prefix), setup.modelConfig);
  }

  async function saveModel(
    model: TransformerLM,
    prefix: string,
    step: number,
    meta: Record<string, unknown> = {},
  ): Promise<string> {
    return store.putCheckpoint(prefix, modelToCheckpoint(model, { step, meta }));
  }

  /** The experiment's complete SFT base (both checkpoints) if it was trained with `identity`, else undefined. */
  async function storedBase(
    policyPrefix: string,
    prmPrefix: string,
    identity: string,
  ): Promise<(StageOutput & { policyKey: string; prmKey: string }) | undefined> {
    if (!(await store.exists(`${prmPrefix}manifest.json`))) return undefined;
    const manifest = await store.readManifest(policyPrefix).catch(() => undefined);
    if (manifest?.meta.sft !== identity) return undefined;
    const metrics = (manifest.meta.sftMetrics ?? {}) as Record<string, number>;
    return { policyKey: policyPrefix, prmKey: prmPrefix, metrics: { ...metrics, 'sft/reused': 1 } };
  }

  /**
   * Copy experiment `from`'s stored SFT base into this experiment's iteration-0 checkpoints (each one loaded,
   * so a corrupt checkpoint or one of another model shape fails here, naming the problem); its PRM falls back
   * to its policy. The copy records where it came from and no SFT identity, so a run without the copy
   * trains its own base.
   */
  async function copyBase(
    setup: RunSetup,
    from: string,
    policyPrefix: string,
    prmPrefix: string,
  ): Promise<StageOutput & { policyKey: string; prmKey: string }> {
    const sourcePolicy = checkpointPrefix(from, 'policy', 0);
    const sourcePrm = checkpointPrefix(from, 'prm', 0);
    if (!(await store.exists(`${sourcePolicy}manifest.json`)))
      throw Object.assign(
        new Error(`baseFrom ${from}: experiment has no stored SFT base (no ${sourcePolicy}manifest.json)`),
        { name: 'ArtifactMissingError' },
      );
    const copy = async (source: string, target: string, role: string) => {
      const checkpoint = await store.getCheckpoint(source);
      let model: TransformerLM;
      try {
        model = modelFromCheckpoint(checkpoint, setup.modelConfig);
      } catch (err) {
        // Keep the error's name: a shape mismatch ("does not match the requested one") is not retried.
        throw Object.assign(new Error(`baseFrom ${from}: ${(err as Error).message}`), {
          name: (err as Error).name,
        });
      }
      try {
        const key = await saveModel(model, target, 0, { iteration: 0, role, copiedFrom: from });
        return { key, sourceMeta: checkpoint.meta ?? {} };
      } finally {
        model.dispose();
      }
    };
    const { key: policyKey, sourceMeta } = await copy(sourcePolicy, policyPrefix, 'policy');
    const prmSource = (await store.exists(`${sourcePrm}manifest.json`)) ? sourcePrm : sourcePolicy;
    const { key: prmKey } = await copy(prmSource, prmPrefix, 'prm');
    const metrics = (sourceMeta.sftMetrics ?? {}) as Record<string, number>;
    log.info('SFT base copied', { from, policyKey });
    return { policyKey, prmKey, metrics: { ...metrics, 'sft/copied': 1 } };
  }

  async function loadBatch(keys: readonly string[]): Promise<RolloutBatch> {
    return mergeBatches(await Promise.all(keys.map(async (k) => decodeBatch(await store.getBytes(k)))));
  }

  /**
   * Heartbeat `details`, then let the event loop turn (the SDK sends heartbeats and polls from it; tfjs work
   * is synchronous), and stop if the activity was cancelled (its run stopped, cancelled or terminated).
   */
  async function tick(details: unknown): Promise<void> {
    heartbeat(details);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const signal = cancellationSignal();
    if (signal.aborted)
      throw signal.reason instanceof Error
        ? signal.reason
        : new CancelledFailure(`activity cancelled: ${String(signal.reason)}`);
  }

  /**
   * Run a resumable loop. A previous attempt's heartbeat names its partial checkpoint and step: the model
   * is restored from it and the loop continues at that step; otherwise `create` gives the starting model.
   * A partial checkpoint is saved at most every `partialEvery` ms and its key heartbeated.
   */
  async function resumable<T>(
    setup: RunSetup,
    partialPrefix: string,
    create: () => Promise<TransformerLM>,
    run: (
      model: TransformerLM,
      startStep: number,
      onStep: (step: number, total: number, metrics?: Record<string, number>) => Promise<void>,
      /** Progress inside a step (keeps the resume point in the heartbeat). */
      onProgress: (progress: string) => Promise<void>,
    ) => Promise<T>,
  ): Promise<{ model: TransformerLM; result: T; resumedAt: number }> {
    const details = activityInfo().heartbeatDetails as Partial<ResumePoint> | undefined;
    let resumedAt = 0;
    let model: TransformerLM | undefined;
    if (details?.partialPrefix === partialPrefix && (details.step ?? 0) > 0) {
      try {
        const partial = await store.getCheckpoint(partialPrefix);
        model = modelFromCheckpoint(partial, setup.modelConfig);
        // The partial's own step, not the heartbeat's: heartbeats are throttled (0.8 x heartbeatTimeout), so
        // the last one the server kept may name an older step than the weights saved after it.
        resumedAt = partial.step;
      } catch (err) {
        // A partial torn by a crash between its weights and its manifest: start the loop over.
        if (!isPermanentStorageError(err)) throw err;
        log.warn('partial checkpoint unusable, starting over', {
          partialPrefix,
          error: (err as Error).message,
        });
      }
    }
    model ??= await create();
    let lastSave = Date.now();
    let saved: ResumePoint | undefined = resumedAt > 0 ? { partialPrefix, step: resumedAt } : undefined;
    const result = await run(
      model,
      resumedAt,
      async (step, total, metrics) => {
        if (Date.now() - lastSave >= partialEvery && step < total) {
          await saveModel(model, partialPrefix, step);
          saved = { partialPrefix, step };
          lastSave = Date.now();
        }
        await tick({ ...saved, progress: `${step}/${total}`, metrics });
      },
      (progress) => tick({ ...saved, progress }),
    );
    return { model, result, resumedAt };
  }

  const guard =
    <I, O>(fn: (input: I) => Promise<O>) =>
    async (input: I): Promise<O> => {
      try {
        return await fn(input);
      } catch (err) {
        throw asActivityError(err);
      }
    };

  const idOf = (input: StageInput) => input.config.experimentId!;

  return {
    /** Base policy by SFT on noisy expert demonstrations; also the PRM's starting point. */
    sftBasePolicy: guard(
      async (
        input: StageInput & {
          /** Copy this experiment's stored base (iteration-0 policy and PRM) instead of training one. */
          copyFrom?: string;
        },
      ): Promise<StageOutput & { policyKey: string; prmKey: string }> => {
        const setup = await setupOf(input);
        const id = idOf(input);
        const policyPrefix = checkpointPrefix(id, 'policy', 0);
        const prmPrefix = checkpointPrefix(id, 'prm', 0);
        if (input.copyFrom !== undefined) return copyBase(setup, input.copyFrom, policyPrefix, prmPrefix);
        const identity = sftIdentity(setup);
        // The base this experiment already trained with these settings (the activity finished its work but the
        // run or sweep stopped before recording it, e.g. a sweep started again after it was terminated): reuse
        // it rather than spend the SFT again (SFT is deterministic: it would give the same weights).
        const stored = await storedBase(policyPrefix, prmPrefix, identity);
        if (stored) {
          log.info('SFT base already stored with these settings: reused', { experimentId: id });
          return stored;
        }
        const partialPrefix = `${iterationPrefix(id, 0)}partial/sft/`;
        const { model, result } = await resumable(
          setup,
          partialPrefix,
          async () => initialPolicy(setup),
          (model, startStep, onStep, onProgress) =>
            sftBasePolicy(setup, model, {
              startEpoch: startStep,
              onEpoch: (epoch, m) => onStep(epoch, setup.config.sft.epochs, { ...m }),
              onStep: (step, steps, epoch) =>
                onProgress(`epoch ${epoch}/${setup.config.sft.epochs}: step ${step}/${steps}`),
            }),
        );
        const policyKey = await saveModel(model, policyPrefix, 0, {
          iteration: 0,
          role: 'policy',
          sft: identity,
          sftMetrics: result.metrics,
        });
        // The PRM copy last: its manifest marks the base complete (storedBase).
        const prmKey = await saveModel(model, prmPrefix, 0, {
          iteration: 0,
          role: 'prm',
        });
        model.dispose();
        await store.deletePrefix(partialPrefix);
        return { policyKey, prmKey, metrics: result.metrics };
      },
    ),

    /** The checkpoint keys of a stored run at an iteration (resumeFrom); the PRM falls back to the policy. */
    locateCheckpoints: guard(
      async (input: {
        experimentId: string;
        iteration: number;
      }): Promise<{ policyKey: string; prmKey: string }> => store.locateCheckpoints(input),
    ),

    /** The state in which a stored run goes on to more iterations (the istarExtend workflow). */
    extensionState: guard(
      async (input: { experimentId: string; iterations: number }): Promise<TrainingState> =>
        extensionState(store, input.experimentId, input.iterations),
    ),

    /** Step 1: G/shards groups x N episodes with pi_old. */
    collectRollouts: guard(
      async (
        input: StageInput & { policyKey: string; shard: number; shards: number },
      ): Promise<StageOutput & { key: string }> => {
        const setup = await setupOf(input);
        const policy = await loadModel(setup, input.policyKey);
        try {
          const { batch, summary } = await collectShard(
            setup,
            policy,
            input.iteration,
            input.shard,
            input.shards,
            (step, active) => tick({ progress: `step ${step}, ${active} active` }),
          );
          const key = iterationKey(
            idOf(input),
            input.iteration,
            `rollouts/shard-${String(input.shard).padStart(3, '0')}.bin`,
          );
          await store.putBytes(key, encodeBatch(batch));
          return {
            key,
            metrics: {
              'rollout/success_rate': summary.successRate,
              'rollout/score': summary.meanScore,
              'rollout/return': summary.meanReturn,
              'rollout/episode_length': summary.meanLength,
              'rollout/invalid_action_rate': summary.invalidActionRate,
              'rollout/episodes': summary.episodes,
            },
          };
        } finally {
          policy.dispose();
        }
      },
    ),

    /** Step 2: every positive with every negative trajectory within each group. */
    labelPreferences: guard(
      async (
        input: StageInput & { rolloutKeys: string[] },
      ): Promise<StageOutput & { key: string; pairs: number }> => {
        const setup = await setupOf(input);
        const batch = await loadBatch(input.rolloutKeys);
        const { pairs, counts } = preferencePairs(setup, batch);
        const key = iterationKey(idOf(input), input.iteration, 'pairs.json.gz');
        await store.putBytes(key, json({ pairs, counts }));
        return {
          key,
          pairs: counts.pairs,
          metrics: {
            'prm/pairs': counts.pairs,
            'prm/groups_with_pairs': counts.groupsWithPairs,
            'prm/positives': counts.positives,
            'prm/negatives': counts.negatives,
          },
        };
      },
    ),

    /** Step 3: implicit PRM update (eq. 2, or PRIME's cross-entropy); writes checkpoints/prm/<iteration>. */
    trainPrm: guard(
      async (
        input: StageInput & {
          rolloutKeys: string[];
          pairsKey?: string;
          prmKey: string;
          referenceKey: string;
        },
      ): Promise<StageOutput & { prmKey: string }> => {
        const setup = await setupOf(input);
        const batch = await loadBatch(input.rolloutKeys);
        const pairs = input.pairsKey
          ? fromJson<{ pairs: PreferencePair[] }>(await store.getBytes(input.pairsKey)).pairs
          : undefined;
        const reference = setup.algorithm.stages.needsReference
          ? await loadModel(setup, input.referenceKey)
          : undefined;
        const partialPrefix = `${iterationPrefix(idOf(input), input.iteration)}partial/prm/`;
        try {
          const { model, result, resumedAt } = await resumable(
            setup,
            partialPrefix,
            async () => {
              const model = await loadModel(setup, input.prmKey);
              // prmInit 'policy': input.prmKey is pi_old's checkpoint; the PRM starts without its moments.
              if (setup.config.prmInit === 'policy') model.resetOptimizer();
              return model;
            },
            (model, startStep, onStep) =>
              trainPrm(setup, model, batch, input.iteration, { startStep, onStep, reference, pairs }),
          );
          const prmKey = await saveModel(
            model,
            checkpointPrefix(idOf(input), 'prm', input.iteration),
            input.iteration,
            { iteration: input.iteration, role: 'prm' },
          );
          model.dispose();
          await store.deletePrefix(partialPrefix);
          return { prmKey, metrics: { ...result.metrics, 'prm/resumed_at_step': resumedAt } };
        } finally {
          reference?.dispose();
        }
      },
    ),

    /** Step 4: implicit step rewards (eq. 1), step (eq. 4) and episode (eq. 3) advantages combined (eq. 5). */
    computeStepAdvantages: guard(
      async (
        input: StageInput & {
          rolloutKeys: string[];
          prmKey?: string;
          referenceKey?: string;
          policyKey: string;
          /** The PRM stage's prm/heldout_accuracy this iteration, if it trained (alphaGate 'prm-accuracy'). */
          prmAccuracy?: number;
        },
      ): Promise<StageOutput & { key: string }> => {
        const setup = await setupOf(input);
        const batch = await loadBatch(input.rolloutKeys);
        const { stages } = setup.algorithm;
        const prm = stages.needsPrm && input.prmKey ? await loadModel(setup, input.prmKey) : undefined;
        const reference =
          stages.needsReference && input.referenceKey
            ? await loadModel(setup, input.referenceKey)
            : undefined;
        const policy = stages.needsValueHead ? await loadModel(setup, input.policyKey) : undefined;
        try {
          const out = await computeAdvantages(
            setup,
            batch,
            { prm, reference, policy },
            (done, total) => tick({ progress: `${done}/${total} steps scored` }),
            input.prmAccuracy,
          );
          const key = iterationKey(idOf(input), input.iteration, 'advantages.json.gz');
          await store.putBytes(key, json(out));
          return { key, metrics: out.metrics };
        } finally {
          [prm, reference, policy].forEach((m) => m?.dispose());
        }
      },
    ),

    /** Step 5: PPO-clip policy update (eq. 6); writes checkpoints/policy/<iteration>, the next pi_old. */
    trainPolicy: guard(
      async (
        input: StageInput & {
          rolloutKeys: string[];
          advantagesKey: string;
          policyKey: string;
          referenceKey?: string;
        },
      ): Promise<StageOutput & { policyKey: string }> => {
        const setup = await setupOf(input);
        const batch = await loadBatch(input.rolloutKeys);
        const targets = fromJson<AdvantageResult>(await store.getBytes(input.advantagesKey));
        const reference =
          input.config.klCoef > 0 && input.referenceKey
            ? await loadModel(setup, input.referenceKey)
            : undefined;
        const partialPrefix = `${iterationPrefix(idOf(input), input.iteration)}partial/policy/`;
        try {
          const { model, result, resumedAt } = await resumable(
            setup,
            partialPrefix,
            () => loadModel(setup, input.policyKey),
            (model, startStep, onStep) =>
              trainPolicy(setup, model, batch, targets, input.iteration, { startStep, onStep, reference }),
          );
          const policyKey = await saveModel(
            model,
            checkpointPrefix(idOf(input), 'policy', input.iteration),
            input.iteration,
            {
              iteration: input.iteration,
              role: 'policy',
            },
          );
          model.dispose();
          await store.deletePrefix(partialPrefix);
          return { policyKey, metrics: { ...result.metrics, 'policy/resumed_at_step': resumedAt } };
        } finally {
          reference?.dispose();
        }
      },
    ),

    /** Held-out evaluation at temperature evalTemperature; writes iterations/<i>/eval.json.gz. */
    evaluate: guard(
      async (input: StageInput & { policyKey: string }): Promise<StageOutput & { key: string }> => {
        const setup = await setupOf(input);
        const policy = await loadModel(setup, input.policyKey);
        try {
          const { summary, batch } = await evaluatePolicy(setup, policy, input.iteration, (step, active) =>
            tick({ progress: `step ${step}, ${active} active` }),
          );
          const key = iterationKey(idOf(input), input.iteration, 'eval.json.gz');
          const episodes = batch.groups.map((g) => ({
            seed: g.taskSeed,
            success: g.trajectories[0].success,
            score: g.trajectories[0].score,
            steps: g.trajectories[0].steps.map((s) => ({
              observation: s.observationText,
              action: s.actionText,
              reward: s.envReward,
              valid: s.valid,
            })),
          }));
          await store.putBytes(key, json({ summary, episodes }));
          return {
            key,
            metrics: {
              'eval/success_rate': summary.successRate,
              'eval/score': summary.meanScore,
              'eval/return': summary.meanReturn,
              'eval/episode_length': summary.meanLength,
              'eval/invalid_action_rate': summary.invalidActionRate,
              'eval/episodes': summary.episodes,
            },
          };
        } finally {
          policy.dispose();
        }
      },
    ),

    /** The iteration's metrics as iterations/<i>/metrics.json. */
    recordIteration: guard(
      async (input: {
        experimentId: string;
        iteration: number;
        metrics: Record<string, number>;
      }): Promise<string> => {
        return store.putJson(iterationKey(input.experimentId, input.iteration, 'metrics.json'), {
          iteration: input.iteration,
          ...input.metrics,
        });
      },
    ),
  };
}

export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
