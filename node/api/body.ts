import type { IncomingMessage } from 'node:http'
import { ApiRequestError } from './errors.ts'

/**
 * Reads a request body of at most `maxBytes` and parses it as JSON.
 * @throws ApiRequestError 413 when the body is larger (by Content-Length or as it streams),
 * 400 when it is not UTF-8 JSON.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes, 'request body')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body)
  } catch {
    throw new ApiRequestError(400, 'request body: expected UTF-8 JSON')
  }
  if (text.trim() === '') throw new ApiRequestError(400, 'request body: expected JSON, got an empty body')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ApiRequestError(400, `request body: bad JSON (${(err as Error).message})`)
  }
}

/**
 * Reads a request body of at most `maxBytes`; `what` names it in the refusal ("request body",
 * "a block").
 * @throws ApiRequestError 413 when the body is larger, by Content-Length or as it streams.
 */
export async function readBody(req: IncomingMessage, maxBytes: number, what: string): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new ApiRequestError(413, `${what} of ${declared} bytes exceeds the limit of ${maxBytes} bytes`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > maxBytes) throw new ApiRequestError(413, `${what} exceeds the limit of ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * The signed records of a `POST /v1/ops` body `{"records": ["<base64>", ...]}`.
 * @throws ApiRequestError 400 naming the field at fault.
 */
export function parseOpsBody(body: unknown): Uint8Array[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiRequestError(400, 'request body: expected an object {"records": ["<base64 signed record>", ...]}')
  }
  const extra = Object.keys(body).filter((k) => k !== 'records')
  if (extra.length > 0) throw new ApiRequestError(400, `request body: unknown field "${extra[0]}"`)
  const records = (body as { records?: unknown }).records
  if (!Array.isArray(records) || records.length === 0) {
    throw new ApiRequestError(400, 'records: expected a non-empty array of base64 signed records')
  }
  return records.map((r, i) => {
    if (typeof r !== 'string' || r.length === 0 || !BASE64.test(r)) {
      throw new ApiRequestError(400, `records[${i}]: expected a base64 string of a signed record`)
    }
    return new Uint8Array(Buffer.from(r, 'base64'))
  })
}
