export { createLocalCommunicator } from './local-backend.js';
