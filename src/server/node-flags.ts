// The node flags the proxy runs with: written once, in package.json's `start` script (what
// `npm start` runs), read from there by the CLI, the tests and the bench. `llm-proxy start` in a
// node without them relaunches itself with them, so the CLI gets the memory `npm start` gets.
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

/** The flags between `node` and the entry of package.json's `start` script. */
export function startScriptFlags(): string[] {
  // dist/src/server/ → the package root (also where npm installs the package).
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').trim().split(/\s+/);
  return words[0] === 'node' ? words.slice(1).filter((word) => word.startsWith('--')) : [];
}

/** `--max_semi_space_size=16` and `--max-semi-space-size` name the same V8 flag. */
function flagName(flag: string): string {
  return flag.split('=')[0]?.replace(/_/g, '-') ?? flag;
}

/**
 * The start flags neither `execArgv` nor NODE_OPTIONS sets: one the operator gave (with any value)
 * wins. NODE_OPTIONS never shows in execArgv, and a flag on the relaunch's command line would
 * override it there.
 */
export function missingStartFlags(execArgv: readonly string[], flags: readonly string[] = startScriptFlags(), nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(flagName));
  return flags.filter((flag) => !given.has(flagName(flag)));
}

const RELAYED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs this script again in a node with `flags` added and becomes its shadow: signals are passed
 * on and its exit is this process's exit. Node 20 cannot exec in place, hence a child. The child
 * gets its own process group, so a Ctrl-C reaches it once (passed on from here). A stop sent to
 * every process (systemd's KillMode=control-group) still reaches it twice, directly and from here:
 * the server takes the copy as the same stop (stop-signals.ts).
 */
export function relaunchWithFlags(flags: readonly string[]): Promise<never> {
  const script = process.argv[1] as string;
  // Listening before the child exists: a signal while it starts would otherwise end only this
  // process and leave the server running. Handlers run on a later tick, once `child` is set.
  const relays = RELAYED_SIGNALS.map((signal) => {
    const relay = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    process.on(signal, relay);
    return { signal, relay };
  });
  // The IPC channel only tells the child when this process is gone (see stopWithParent).
  const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  return new Promise<never>((_resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const { signal: name, relay } of relays) process.off(name, relay);
      // Ended by a signal: end the same way, so a supervisor sees what happened.
      if (signal !== null) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}

/**
 * In a relaunched server: a CLI killed outright (SIGKILL) passes nothing on, and the server, in
 * its own process group, would run on unseen. Its channel closing ends the server as SIGTERM does.
 */
export function stopWithParent(): void {
  // A cluster worker's channel is its primary's, which node:cluster already watches.
  if (process.channel === undefined || cluster.isWorker) return;
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel must not keep a server that has finished alive.
  process.channel.unref();
}
