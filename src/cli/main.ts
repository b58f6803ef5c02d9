#!/usr/bin/env node
// First: from its evaluation on, SIGUSR1 no longer opens node's debugger (see
// debug-signal.ts). Node loads and links a module's whole static import graph
// before it runs any of it, so the commands, which take most of the start
// (some 0.1 s), come by a dynamic import after: main.ts imports debug-signal.ts
// alone, which imports nothing, and its listener is in place once node has
// read these two files.
import './debug-signal.js';

/**
 * Node reads the commands' import graph, some sixty files, several at once:
 * under an open-file limit of a few dozen an open fails EMFILE (or ENFILE,
 * the system's file table full), which node would report as a stack trace
 * naming one of cairn's files. One line says what to do instead; exit
 * status 1 for serve and keygen (a failure to start), 2 for the client
 * commands (an operational error: 1 is theirs for a failed verification).
 */
try {
  await import('./commands.js');
} catch (err) {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code !== 'EMFILE' && code !== 'ENFILE') throw err;
  process.stderr.write(
    code === 'EMFILE'
      ? `cairn: the open-file limit${openFileLimit()} is too low to load cairn (it needs about 50): raise it (ulimit -n, or LimitNOFILE= in systemd)\n`
      : 'cairn: the system has too many files open (ENFILE) to load cairn: close some, or raise its limit (fs.file-max), and retry\n',
  );
  const argv = process.argv.slice(2);
  const command = argv[0] === '--' ? argv[1] : argv[0];
  process.exitCode = command === 'serve' || command === 'keygen' ? 1 : 2;
}

/**
 * ` (N)`, the soft open-file limit, or nothing where node does not tell it:
 * from node's diagnostic report, which asks the kernel (getrlimit) and so
 * needs no file descriptor, of which none may be left.
 */
function openFileLimit(): string {
  try {
    const report = process.report.getReport() as { userLimits?: { open_files?: { soft?: unknown } } };
    const soft = report.userLimits?.open_files?.soft;
    return typeof soft === 'number' ? ` (${soft})` : '';
  } catch {
    return '';
  }
}
