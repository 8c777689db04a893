// The registry every command starts from: the built-in plugins; configs add their own `plugins:`.
export { createRegistry } from '../plugins/index.js';
