import { createExperimentActivities, type ExperimentActivityDeps } from './experiment';

export type ActivityDeps = ExperimentActivityDeps;

/** Every activity of the project, built from injected dependencies (workers inject real clients, tests too). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createExperimentActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
