// The server half every scripted provider fake shares (fake-anthropic, fake-gemini): it records
// each request, answers it with the next queued reply or the default scenario, and turns a handler
// failure (a missing fixture) into a 500 that fails the test instead of hanging it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedFake<Scenario, Reply, Recorded> {
  /** `http://127.0.0.1:<port>`: the provider's base URL. */
  readonly url: string;
  readonly port: number;
  readonly requests: Recorded[];
  /** Sets the scenario every request gets once the queue is empty. */
  respondWith(scenario: Scenario): void;
  /** Queues one-shot replies, used in order before the default scenario. */
  enqueue(...replies: Reply[]): void;
  /** Empties the queue and the recorded requests; the default scenario goes back to the initial one. */
  reset(): void;
  close(): Promise<void>;
}

export interface ScriptedFakeOptions<Scenario, Reply, Recorded> {
  /** For the 500 a failing handler answers with. */
  name: string;
  initial: Scenario;
  /** The reply a request gets when nothing is queued. */
  scenarioReply(scenario: Scenario): Reply;
  record(request: IncomingMessage, raw: string): Recorded;
  handle(recorded: Recorded, response: ServerResponse, reply: Reply): void;
}

export async function startScriptedFake<Scenario, Reply, Recorded>(options: ScriptedFakeOptions<Scenario, Reply, Recorded>): Promise<ScriptedFake<Scenario, Reply, Recorded>> {
  let fallback = options.initial;
  const queue: Reply[] = [];
  const requests: Recorded[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const recorded = options.record(request, Buffer.concat(chunks).toString('utf8'));
      requests.push(recorded);
      try {
        options.handle(recorded, response, queue.shift() ?? options.scenarioReply(fallback));
      } catch (error) {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`${options.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    respondWith(scenario) {
      fallback = scenario;
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
      fallback = options.initial;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
