/** Partial model size from the run config (undefined fields keep the default). */
export interface ModelSizeOverrides {
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
  dFF?: number;
  contextLength?: number;
  /** Line/column position embeddings (ModelConfig.layout). */
  layoutPositions?: boolean;
  /** Copy (pointer) head (ModelConfig.copyHead). */
  copyHead?: boolean;
}
