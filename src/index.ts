// Public package entry (`import … from 'gzx'`): the Galaxy Zoo domain without the CLI.
export {
  QUESTIONS,
  COLUMNS,
  NUM_COLUMNS,
  CSV_HEADER,
  COLUMN_QUESTION,
  NORMALISE_EPSILON,
  columnLabel,
  normaliseAnswers,
  type Question,
} from './galaxy/tree.js';
export { rmse, perQuestionRmse, perQuestionRmseRecord, columnMeans, baselineRmse, SquaredErrorSums, type AnswerRows } from './galaxy/metrics.js';
export {
  readSolutionsCsv,
  writeSolutionsCsv,
  openSolutionsWriter,
  type SolutionsTable,
  type SolutionsWriter,
  type ReadSolutionsOptions,
} from './galaxy/csv.js';
export { describeAnswers, topAnswers, type TopAnswer, type DescribeOptions } from './galaxy/describe.js';
export { evaluateFiles, formatEvaluation, type EvaluationReport, type QuestionScore } from './galaxy/evaluate.js';
export {
  predictToCsv,
  predictImages,
  loadPredictor,
  listImages,
  ttaViews,
  parseTtaSpec,
  applyView,
  type TtaView,
  type PredictOptions,
  type PredictSummary,
  type LoadedPredictor,
} from './galaxy/predict.js';
export { resultsGrid, showResults, cellCaption, type GridCell, type GridOptions, type ShowOptions } from './galaxy/show.js';
export { ConcatPool } from './vision/layers/index.js';
export { GalaxyNormalisation, galaxyNormalise } from './galaxy/layers/galaxy-normalisation.js';
export { galaxyZooHead, createGalaxyZooHead, type GalaxyZooHeadOptions } from './plugins/head/galaxy-zoo.js';
export { UserError, isUserError } from './base/errors.js';
export { definePlugin, type OptionsOf, type PluginDefinition, type PluginContext, type PluginKind } from './framework/plugin.js';
export type * from './framework/contracts.js';
// Service names a plugin may `inject:` or replace (plain strings: plugins need not import gzx).
export { SERVICES, SERVICE_DESCRIPTIONS, type ServiceName, type ImageDecoder, type CheckpointStore } from './framework/services.js';
