import { connect } from "node:tls";
import {
  CertificateError,
  certificateFailure,
  classifyTransportError,
  UnreachableError,
  type TlsTrust,
} from "../http.js";

export interface ServedCertificateOptions {
  host: string;
  port: number;
  /** The name asked for (SNI); the certificate must be for it. */
  servername: string;
  trust: TlsTrust;
  /** How messages name the server ("Traefik on worker-2") and its address (a tunnel's port). */
  name?: string;
  where?: string;
  timeoutMs?: number;
}

/**
 * The certificate a TLS server presents for `servername`, verified against `trust`, as PEM (the
 * leaf only): what tells whether every worker serves the same certificate, and whether a renewal
 * reached them (its serial). A certificate that does not verify is a CertificateError.
 */
export function servedCertificate(o: ServedCertificateOptions): Promise<string> {
  const where = o.where ?? `${o.host}:${o.port}`;
  const timeoutMs = o.timeoutMs ?? 5000;
  const name = o.name ?? "the TLS server";
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: o.host,
      port: o.port,
      servername: o.servername,
      ...(o.trust.ca !== undefined ? { ca: o.trust.ca } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UnreachableError(name, where, "timeout", timeoutMs));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(pemOf(raw));
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      const refused = certificateFailure(error);
      reject(
        refused
          ? new CertificateError(name, where, o.servername, refused, o.trust)
          : new UnreachableError(name, where, classifyTransportError(error), timeoutMs),
      );
    });
  });
}

function pemOf(der: Buffer): string {
  const body = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${body.join("\n")}\n-----END CERTIFICATE-----\n`;
}
