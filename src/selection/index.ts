/** The public surface of selection: init(), the registry listing, and the environment report. */
export { init, type BackendChoice, type InitOptions } from './init.js';
export { availableBackends, type BackendInfo } from './registry.js';
export { describeEnvironment, type EnvironmentReport } from './describe.js';
export type { LauncherName, NodeLayout } from './launchers.js';
export type { Sourced } from './values.js';
export type { SourcedTimeouts, Timeouts } from './settings.js';
export type { SelectionWarning } from './config.js';
export { launcherAutoRule, launcherBackend } from './launcher-choice.js';
export { BACKEND_CHOICES, parseBackendChoice } from './backend-choice.js';
export { BACKEND_TABLE, rowOf, type BackendRow, type TableName } from './backends.js';
export { LISTENING_MESSAGE_KIND, type ListeningMessage } from './init.js';
export { emitWarningOnce, launchOversubscription } from './warnings.js';
