// The REST API as the dashboard uses it: same origin, JSON in and out,
// RFC 9457 problems turned into ApiError, and the optional API token.

const TOKEN_KEY = "reachd.apiToken";

/** The API token for this tab, or "" when none was given. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be off (private modes); the token then lasts until reload.
  }
}

/** ApiError is a failed request: status 0 when the API could not be reached. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
  get unauthorized() {
    return this.status === 401;
  }
}

/**
 * request calls the API and returns the decoded JSON body (null when there
 * is none). It throws ApiError for any status from 400 up and when the API
 * cannot be reached.
 */
export async function request(method, path, body) {
  const headers = { Accept: "application/json, application/problem+json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: "API unreachable", detail: `could not reach the API: ${err.message}` });
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const problem = data && typeof data === "object" ? data : { title: resp.statusText, detail: text.trim() };
    throw new ApiError(resp.status, problem);
  }
  return data;
}

export const getNode = () => request("GET", "/v1/node");
export const listConnections = () => request("GET", "/v1/connections");
export const connect = (address, strategies) =>
  request("POST", "/v1/connections", strategies ? { address, strategies } : { address });
export const listNetworks = () => request("GET", "/v1/networks");
export const joinNetwork = (name, secret, ip) => request("POST", "/v1/networks", { name, secret, ip });
export const leaveNetwork = (name) => request("DELETE", `/v1/networks/${encodeURIComponent(name)}`);
export const setAccept = (accept) => request("PUT", "/v1/policy", { accept });
export const allowPeer = (id) => request("PUT", `/v1/policy/allow/${encodeURIComponent(id)}`);
export const disallowPeer = (id) => request("DELETE", `/v1/policy/allow/${encodeURIComponent(id)}`);
export const listServices = () => request("GET", "/v1/services");
export const listForwards = () => request("GET", "/v1/forwards");
export const listPeers = () => request("GET", "/v1/peers");
export const closeConnection = (id) => request("DELETE", `/v1/connections/${encodeURIComponent(id)}`);

/** eventsURL is /v1/events, with the token as a query parameter when set. */
export function eventsURL() {
  const t = token();
  return t ? `/v1/events?access_token=${encodeURIComponent(t)}` : "/v1/events";
}
