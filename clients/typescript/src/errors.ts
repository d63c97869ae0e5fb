/**
 * The one error type the REST client throws for an HTTP error answer.
 */
import type { ErrorBody } from './types.js'

/**
 * The error codes the contract names. The server may add others, so a code is
 * typed as this union widened to any string (editors still offer the known ones).
 */
export type ErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'validation_failed'
  | 'payload_too_large'
  | 'bad_request'
  | 'too_many_requests'
  | 'service_unavailable'
  | 'internal'
  | (string & {})

/**
 * A 4xx or 5xx answer from the server.
 *
 * `status` is the HTTP status; `code` and `message` come from the contract's
 * `{error: {code, message}}` envelope. An answer without that envelope (a proxy's
 * HTML error page, say) gets the code `http_<status>` and the status text.
 */
export class CanvasApiError extends Error {
  /** The HTTP status, e.g. `404`. */
  readonly status: number
  /** The envelope's snake_case code, e.g. `not_found`. */
  readonly code: ErrorCode
  /** The `Retry-After` header in seconds, when the server sent one (`429`, `503`). */
  readonly retryAfter: number | undefined

  constructor (status: number, code: ErrorCode, message: string, retryAfter?: number) {
    super(message)
    this.name = 'CanvasApiError'
    this.status = status
    this.code = code
    this.retryAfter = retryAfter
  }

  /** Builds the error from a response and its already parsed body, if any. */
  static fromResponse (response: Response, body: unknown): CanvasApiError {
    const retry = Number.parseInt(response.headers.get('retry-after') ?? '', 10)
    const retryAfter = Number.isFinite(retry) ? retry : undefined
    if (isErrorBody(body)) {
      return new CanvasApiError(response.status, body.error.code, body.error.message, retryAfter)
    }
    const text = response.statusText || `HTTP ${response.status}`
    return new CanvasApiError(response.status, `http_${response.status}`, text, retryAfter)
  }
}

/** Whether `value` has the contract's error envelope shape. */
function isErrorBody (value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const error = (value as { error?: unknown }).error
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown, message?: unknown }
  return typeof code === 'string' && typeof message === 'string'
}
