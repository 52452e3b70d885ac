// The public surface of `collective`, and nothing else.
export { init, type InitOptions, type BackendChoice } from './selection/init.js';
export type {
  Communicator,
  SharedRegion,
  AllgathervOptions,
  BackendName,
} from './communicator/communicator.js';
export type { NumericArray, NumericArrayConstructor, ReduceOp, DTypeName } from './communicator/dtypes.js';
export {
  CollectiveError,
  CommError,
  BackendError,
  WorkerError,
  type CommErrorCode,
  type BackendErrorKind,
  type SerializedError,
} from './communicator/errors.js';
