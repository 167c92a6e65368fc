import { createExperimentActivities, type ExperimentActivityDeps } from './experiment';
import { createReportActivities } from './report';
import { createTrainingActivities, type TrainingActivityDeps } from './training';

export type ActivityDeps = ExperimentActivityDeps & TrainingActivityDeps;

/** Every activity of the project, built from injected dependencies (workers inject real clients, tests too). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createExperimentActivities(deps),
    ...createTrainingActivities(deps),
    ...createReportActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
