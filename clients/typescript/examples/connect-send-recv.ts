// connect-send-recv drives two reachd nodes through their APIs: node A
// connects to node B by B's peer address, sends a greeting that B reads, B
// replies and A reads it, then A closes and both sides see the connection
// closed. It prints a JSON summary and exits non-zero on any failure.
//
//   REACHD_API_A=http://127.0.0.1:12333 REACHD_API_B=http://127.0.0.1:12334 \
//     node dist/examples/connect-send-recv.js
//
// REACHD_API_TOKEN, when set, is sent to both APIs as a Bearer token.

import { END, type Connection, ReachdClient, ReachdError } from "../src/client.js";

const HELLO = "hello from typescript";
const REPLY = "hello back from b";
const WAIT_MS = 15_000;

interface ConnSummary {
  id: string;
  peer_id: string;
  direction: string;
  strategy: string;
  state: string;
  bytes_sent: number;
  bytes_received: number;
}

interface Summary {
  ok: boolean;
  error?: string;
  a: { api: string; node_id?: string };
  b: { api: string; node_id?: string };
  outbound?: ConnSummary;
  inbound?: ConnSummary;
  a_to_b: { sent?: string; received?: string };
  b_to_a: { sent?: string; received?: string };
  b_recv_after_close?: string;
  not_found?: { status: number; type?: string; detail?: string };
  elapsed_ms: number;
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`set ${name} to a reachd API URL, e.g. http://127.0.0.1:12333`);
  }
  return v;
}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
}

function brief(c: Connection): ConnSummary {
  return {
    id: c.id,
    peer_id: c.peer_id,
    direction: c.direction,
    strategy: c.strategy,
    state: c.state,
    bytes_sent: c.bytes_sent,
    bytes_received: c.bytes_received,
  };
}

/** Polls f every 100 ms until it answers a value, or fails after WAIT_MS. */
async function waitFor<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await f();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not after ${WAIT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Reads from a connection until n bytes came, the stream ended, or WAIT_MS passed. */
async function recvBytes(client: ReachdClient, id: string, n: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  const deadline = Date.now() + WAIT_MS;
  while (got < n) {
    if (Date.now() > deadline) {
      throw new Error(`connection ${id}: ${got} of ${n} bytes after ${WAIT_MS} ms`);
    }
    const r = await client.recv(id, { max: n - got, timeoutMs: 1000 });
    if (r === END) {
      throw new Error(`connection ${id}: stream ended after ${got} of ${n} bytes`);
    }
    if (r !== null) {
      chunks.push(r);
      got += r.length;
    }
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

async function run(s: Summary): Promise<void> {
  const token = process.env["REACHD_API_TOKEN"] || undefined;
  const a = new ReachdClient({ baseUrl: s.a.api, token });
  const b = new ReachdClient({ baseUrl: s.b.api, token });

  const [infoA, infoB] = await Promise.all([a.node(), b.node()]);
  s.a.node_id = infoA.node_id;
  s.b.node_id = infoB.node_id;
  check(infoA.ready && infoB.ready, "both nodes are ready");
  check(infoB.address !== undefined && infoB.address !== "", "node B has a peer address");

  // A -> B; B's new inbound connection from A is the other end.
  const before = new Set((await b.list()).map((c) => c.id));
  const out = await a.connect(infoB.address);
  check(out.direction === "outbound" && out.peer_id === infoB.node_id, "A's connection is outbound to B");
  const inb = await waitFor("B's inbound connection from A", async () =>
    (await b.list()).find((c) => !before.has(c.id) && c.direction === "inbound" && c.peer_id === infoA.node_id),
  );

  s.a_to_b.sent = HELLO;
  check((await a.send(out.id, HELLO)) === Buffer.byteLength(HELLO), "A sent the whole greeting");
  s.a_to_b.received = await recvBytes(b, inb.id, Buffer.byteLength(HELLO));
  check(s.a_to_b.received === HELLO, "B received the greeting");

  s.b_to_a.sent = REPLY;
  check((await b.send(inb.id, REPLY)) === Buffer.byteLength(REPLY), "B sent the whole reply");
  s.b_to_a.received = await recvBytes(a, out.id, Buffer.byteLength(REPLY));
  check(s.b_to_a.received === REPLY, "A received the reply");

  // A closes; B sees the end of A's stream and the connection closed.
  const closed = await a.close(out.id);
  check(closed.state === "closed", `A's connection is closed (state ${closed.state})`);
  await waitFor("B's connection closed", async () => ((await b.get(inb.id)).state === "closed" ? true : undefined));
  const after = await b.recv(inb.id, { timeoutMs: 1000 });
  s.b_recv_after_close = after === END ? END : after === null ? "nothing" : "bytes";
  check(after === END, "B reads the end of the stream after the close");

  s.outbound = brief(await a.get(out.id));
  s.inbound = brief(await b.get(inb.id));
  check(s.outbound.state === "closed" && s.inbound.state === "closed", "the connection is closed on both sides");

  // Errors carry the API's problem.
  try {
    await a.get("no-such-connection");
    throw new Error("GET of an unknown connection succeeded");
  } catch (err) {
    if (!(err instanceof ReachdError)) throw err;
    s.not_found = { status: err.status, type: err.problem.type, detail: err.problem.detail };
  }
  check(s.not_found?.status === 404, "an unknown connection is a 404 problem");
}

async function main(): Promise<number> {
  const start = Date.now();
  const s: Summary = { ok: false, a: { api: "" }, b: { api: "" }, a_to_b: {}, b_to_a: {}, elapsed_ms: 0 };
  try {
    s.a.api = env("REACHD_API_A");
    s.b.api = env("REACHD_API_B");
    await run(s);
    s.ok = true;
  } catch (err) {
    s.error = err instanceof Error ? err.message : String(err);
  }
  s.elapsed_ms = Date.now() - start;
  const { ok, error, a, b, outbound, inbound, a_to_b, b_to_a, b_recv_after_close, not_found, elapsed_ms } = s;
  const ordered = { ok, error, a, b, outbound, inbound, a_to_b, b_to_a, b_recv_after_close, not_found, elapsed_ms };
  process.stdout.write(JSON.stringify(ordered, null, 2) + "\n");
  return s.ok ? 0 : 1;
}

process.exitCode = await main();
