/** Every runner, registered by name. Adding a transport or a baseline = one runner file + one line here. */
import { registerRunner } from '../harness/runner.js';
import { MpiRunner } from './mpi.js';
import { MpiNativeRunner } from './mpi-native.js';
import { PostMessageRunner } from './postmessage.js';
import { ShmRunner } from './shm.js';
import { SocketRoundTripRunner } from './socket-roundtrip.js';
import { TcpAlgorithmRunner, TcpRunner } from './tcp.js';
import { WsRunner } from './ws.js';

registerRunner(new ShmRunner());
registerRunner(new TcpRunner());
registerRunner(new TcpAlgorithmRunner('star'));
registerRunner(new TcpAlgorithmRunner('direct'));
registerRunner(new WsRunner());
registerRunner(new MpiNativeRunner());
registerRunner(new MpiRunner('vader'));
registerRunner(new MpiRunner('tcp'));
registerRunner(new PostMessageRunner());
registerRunner(new SocketRoundTripRunner());
