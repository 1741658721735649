// A thin typed client of the reachd REST API. Every request and response
// type comes from src/schema.d.ts, which openapi-typescript generates from
// the API's OpenAPI document (openapi/openapi.json, served at GET
// /openapi.json): when the document changes, `npm run generate` and the
// compiler show what this file must follow.

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

/** The body of a response or request, by media type. */
type Body<T, Media extends string = "application/json"> = T extends { content: { [M in Media]: infer B } } ? B : never;

/** GET /v1/node: the node's ID, peer address, NAT report, brokers, clock and readiness. */
export type NodeInfo = Body<paths["/v1/node"]["get"]["responses"][200]>;
/** A connection as the API reports it (peer, direction, strategy, state, byte counts, attempts). */
export type Connection = Body<paths["/v1/connections/{id}"]["get"]["responses"][200]>;
/** POST /v1/connections request body. */
export type ConnectRequest = Body<NonNullable<paths["/v1/connections"]["post"]["requestBody"]>>;
/** A connect strategy name: direct, reverse, punch or relay. */
export type Strategy = NonNullable<ConnectRequest["strategies"]>[number];
/** POST /v1/echo: the signaling round trip to a peer. */
export type EchoResult = Body<paths["/v1/echo"]["post"]["responses"][200]>;
/** GET /v1/connections/{id}/recv query: max bytes and how long to wait. */
export type RecvQuery = NonNullable<paths["/v1/connections/{id}/recv"]["get"]["parameters"]["query"]>;

/**
 * An RFC 9457 problem, as every API error is sent (application/problem+json):
 * type, title, status, detail, and members some problems add (e.g. a
 * failed connect's "attempts": see ConnectProblem).
 */
export type Problem = components["schemas"]["Problem"] & { [member: string]: unknown };
/** The 502 problem of POST /v1/connections when no strategy connected: each attempt's outcome. */
export type ConnectProblem = components["schemas"]["ConnectProblem"];

/** An API error: the HTTP status and the problem the server sent. */
export class ReachdError extends Error {
  override readonly name = "ReachdError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${method} ${path}: ${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
  }
}

/** What recv answers when the peer's stream has ended (HTTP 410). */
export const END = "end";

export interface ReachdClientOptions {
  /** The API's base URL, e.g. http://127.0.0.1:12333 (reachd run --api). */
  baseUrl: string;
  /** The API token (reachd run --api-token), sent as "Authorization: Bearer <token>". */
  token?: string;
  /** A fetch to use instead of globalThis.fetch. */
  fetch?: (input: Request) => Promise<Response>;
}

/** A reachd node's API. */
export class ReachdClient {
  /** The typed openapi-fetch client, for routes the helpers do not cover. */
  readonly api: Client<paths>;

  constructor(opts: ReachdClientOptions) {
    const headers: Record<string, string> = {};
    if (opts.token) {
      headers["Authorization"] = `Bearer ${opts.token}`;
    }
    this.api = createClient<paths>({ baseUrl: opts.baseUrl, headers, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    // fetch's own errors say only "fetch failed": name the request and the cause.
    this.api.use({
      onError({ request, error }) {
        const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
        const why = cause instanceof Error ? cause.message : String(cause);
        return new Error(`${request.method} ${request.url}: ${why}`, { cause: error });
      },
    });
  }

  /** The node's state; its peer address is `address` once `ready`. */
  async node(): Promise<NodeInfo> {
    const r = await this.api.GET("/v1/node");
    return ok("GET", "/v1/node", r);
  }

  /**
   * Connects to the peer at a peer address, trying the strategies in order
   * (default direct, reverse, punch, relay). A failure's problem lists each
   * strategy's outcome in `problem.attempts`.
   */
  async connect(address: string, strategies?: Strategy[], timeoutMs?: number): Promise<Connection> {
    const body: ConnectRequest = { address };
    if (strategies) body.strategies = strategies;
    if (timeoutMs !== undefined) body.timeout_ms = timeoutMs;
    const r = await this.api.POST("/v1/connections", { body });
    return ok("POST", "/v1/connections", r);
  }

  /** All connections, inbound and outbound, open and recently closed. */
  async list(): Promise<Connection[]> {
    const r = await this.api.GET("/v1/connections");
    return ok("GET", "/v1/connections", r).connections;
  }

  /** One connection. */
  async get(id: string): Promise<Connection> {
    const r = await this.api.GET("/v1/connections/{id}", { params: { path: { id } } });
    return ok("GET", `/v1/connections/${id}`, r);
  }

  /** Writes bytes (a string is sent as UTF-8) to the peer; answers how many were sent. */
  async send(id: string, data: Uint8Array | string): Promise<number> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const r = await this.api.POST("/v1/connections/{id}/send", {
      params: { path: { id } },
      // The body is bytes: fetch sends them as they are.
      body: bytes,
      bodySerializer: (b: unknown) => b,
      headers: { "Content-Type": "application/octet-stream" },
    });
    return ok("POST", `/v1/connections/${id}/send`, r).sent;
  }

  /**
   * Reads what the peer sent: up to `max` bytes, waiting up to `timeoutMs`
   * for the first. Answers the bytes, null when nothing came in time (204),
   * or END when the peer's stream has ended and everything was read (410).
   */
  async recv(id: string, opts: { max?: number; timeoutMs?: number } = {}): Promise<Uint8Array | null | typeof END> {
    const query: RecvQuery = {};
    if (opts.max !== undefined) query.max = opts.max;
    if (opts.timeoutMs !== undefined) query.timeout_ms = opts.timeoutMs;
    const path = `/v1/connections/${id}/recv`;
    const r = await this.api.GET("/v1/connections/{id}/recv", {
      params: { path: { id }, query },
      parseAs: "arrayBuffer",
    });
    switch (r.response.status) {
      case 200:
        return new Uint8Array(ok("GET", path, r));
      case 204:
        return null;
      case 410:
        return END;
    }
    throw failure("GET", path, r.response, r.error);
  }

  /** Closes a connection; answers it as closed. */
  async close(id: string): Promise<Connection> {
    const r = await this.api.DELETE("/v1/connections/{id}", { params: { path: { id } } });
    return ok("DELETE", `/v1/connections/${id}`, r);
  }

  /** A signaling round trip to the peer at a peer address: RTT and the broker that answered. */
  async echo(address: string, timeoutMs?: number): Promise<EchoResult> {
    const body: Body<NonNullable<paths["/v1/echo"]["post"]["requestBody"]>> = { address };
    if (timeoutMs !== undefined) body.timeout_ms = timeoutMs;
    const r = await this.api.POST("/v1/echo", { body });
    return ok("POST", "/v1/echo", r);
  }
}

/** The data of a successful openapi-fetch result, or the API's problem as a ReachdError. */
function ok<T>(method: string, path: string, r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.data !== undefined) {
    return r.data;
  }
  throw failure(method, path, r.response, r.error);
}

function failure(method: string, path: string, response: Response, error: unknown): ReachdError {
  return new ReachdError(method, path, response.status, toProblem(response, error));
}

/** The problem the server sent, or one made up from the status when the body is not a problem. */
function toProblem(response: Response, error: unknown): Problem {
  if (typeof error === "object" && error !== null && typeof (error as Problem).title === "string") {
    return error as Problem;
  }
  const detail = typeof error === "string" && error !== "" ? error.slice(0, 500) : undefined;
  return {
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    ...(detail ? { detail } : {}),
  };
}
