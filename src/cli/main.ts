#!/usr/bin/env node
// First: from its evaluation on, SIGUSR1 no longer opens node's debugger (see
// debug-signal.ts). Node loads and links a module's whole static import graph
// before it runs any of it, so the commands, which take most of the start
// (some 0.1 s), come by a dynamic import after: main.ts imports debug-signal.ts
// alone, which imports nothing, and its listener is in place once node has
// read these two files.
import './debug-signal.js';

await import('./commands.js');
