import { request } from "undici";

/** How a delivery ended: delivered, or why not (a status, or a transport failure), never the URL. */
export type Delivery = { delivered: true } | { delivered: false; why: string };

/**
 * POSTs `body` as JSON to a chat's incoming webhook (Slack-compatible), bounded to `timeoutMs`
 * in all. It never throws: the caller warns. The reason never carries the URL (it is a secret:
 * whoever has it may post to the team's channel).
 */
export async function postWebhook(url: string, body: unknown, timeoutMs = 5000): Promise<Delivery> {
  try {
    const res = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump().catch(() => undefined);
    return res.statusCode >= 200 && res.statusCode < 300
      ? { delivered: true }
      : { delivered: false, why: `the receiver answered HTTP ${res.statusCode}` };
  } catch (error) {
    return { delivered: false, why: transportFailure(error) };
  }
}

/** A transport failure said by its code alone: undici's messages may quote the address. */
function transportFailure(error: unknown): string {
  const code =
    (error as { code?: unknown; cause?: { code?: unknown } } | undefined)?.code ??
    (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return "no answer within the time allowed";
  if (code === "ECONNREFUSED") return "the connection was refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the receiver's name did not resolve";
  if (typeof code === "string") return `the request failed (${code})`;
  return "the request failed";
}
