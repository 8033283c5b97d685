// POST /admin/reload: the master key asks the server to re-read its config file and environment
// (what SIGHUP does). A valid config serves every new request; one that is not valid is refused
// with the reason (400, naming the field) and the running config stays; a reload that failed for
// another reason (a cluster worker died or hung applying it, the server is stopping) is a 503.
import type { FastifyInstance } from 'fastify';
import { GatewayError, serviceUnavailable } from '../../errors/gateway-error.js';

export interface ReloadOutcome {
  /** True when the new config is in use (on every worker). */
  reloaded: boolean;
  /** Why the config was refused: the loader's message, naming the field. */
  error?: string;
  /** The field the error names, when it names one. */
  param?: string | null;
  /** Changed settings that keep their running values until a restart. */
  restartRequired: string[];
  /** Worker processes that took the new config (1 without a cluster). */
  processes: number;
  /** What the loaded config may get wrong without being refused (also logged as warn lines). */
  warnings: string[];
  /**
   * Set when the reload failed for another reason than its config (a 503, not a 400): a worker gave
   * no answer or died while applying it, or the server is shutting down.
   */
  fault?: 'worker' | 'stopping';
}

/** A reload that failed through no fault of its config: the running config stays. */
export function faultedReload(error: string, fault: 'worker' | 'stopping'): ReloadOutcome {
  return { ...refusedReload(error, null), fault };
}

/** Runs one reload (main.ts: this process, or every worker through the primary). */
export type ReloadHandler = () => Promise<ReloadOutcome>;

/** A reload that did not take: the running config stays (`done` workers may already have the new one). */
export function refusedReload(error: string, param: string | null, restartRequired: string[] = [], done = 0): ReloadOutcome {
  return { reloaded: false, error, param, restartRequired, processes: done, warnings: [] };
}

const responseDoc = {
  200: {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['reloaded'] },
      restart_required: { type: 'array', items: { type: 'string' }, description: 'Changed settings that need a restart; they keep their running values.' },
      processes: { type: 'integer', description: 'Processes now serving the new config.' },
      warnings: {
        type: 'array',
        items: { type: 'string' },
        description: 'What the new config may get wrong without being refused (say, a condense.model that routes nowhere); also logged. Empty when none.',
      },
    },
    required: ['status', 'restart_required', 'processes', 'warnings'],
  },
};

export function registerAdminReload(app: FastifyInstance, reload: ReloadHandler): void {
  app.post(
    '/admin/reload',
    {
      config: { auth: 'master' },
      schema: {
        summary: 'Re-read the config file (LLM_PROXY_CONFIG) and the environment, as SIGHUP does.',
        description:
          'New requests use the new config at once; requests and streams in flight finish on the old one. An invalid config is refused with 400 naming the field, and the running config stays; with --workers, a reload a worker failed to apply (it died or did not answer) is a 503 reload_failed, and the running config stays. Port, host, workers, storage and cache settings need a restart.',
        response: responseDoc,
      },
    },
    async () => {
      const outcome = await reload();
      if (outcome.fault === 'stopping') throw serviceUnavailable('The server is shutting down; the configuration was not reloaded.', 'server_shutting_down');
      // The config may be fine: a retry (once the worker is replaced) can succeed.
      if (outcome.fault === 'worker') throw serviceUnavailable(`The reload failed on a worker and the running configuration stays: ${outcome.error ?? 'unknown error'}`, 'reload_failed');
      if (!outcome.reloaded) {
        throw new GatewayError({
          status: 400,
          type: 'invalid_request_error',
          code: 'invalid_config',
          param: outcome.param ?? null,
          message: `The new configuration was refused and the running one stays: ${outcome.error ?? 'unknown error'}`,
        });
      }
      return { status: 'reloaded', restart_required: outcome.restartRequired, processes: outcome.processes, warnings: outcome.warnings };
    },
  );
}
