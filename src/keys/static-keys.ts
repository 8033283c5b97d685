// Static client keys and the master key: held only as SHA-256 digests, compared in constant time.
import { createHash, hash, timingSafeEqual } from 'node:crypto';

export type Role = 'master' | 'client';

/** Who is calling: what every authenticated request carries from auth onwards. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Requests per minute; undefined means the default, 0 means none. */
  rpmLimit?: number;
  tpmLimit?: number;
  /** Models this key may use; undefined means all. */
  models?: readonly string[];
  /** USD this key may spend (virtual keys); undefined means no budget. */
  maxBudget?: number;
  /**
   * Names the key for good where `keyId` does not: a static key's id is its place in the list, which
   * a reload or another instance gives to another key. The response cache's scope and the shared
   * limit counters (`rpm:`, `tpm:`) use it; usage records keep `keyId`.
   */
  stableId?: string;
}

/**
 * A static key's lasting name, derived from its digest rather than the digest itself: it goes into
 * Redis counter names, where the key's SHA-256 (the form a key is stored in) must never appear.
 */
function stableIdOf(digest: Buffer): string {
  return `static:${createHash('sha256').update('llm-proxy static key id').update(digest).digest('base64url').slice(0, 22)}`;
}

export function digestKey(key: string): Buffer {
  return Buffer.from(digestHex(key), 'hex');
}

/** One-shot SHA-256 to hex: several times cheaper per request than a Hash object plus toString. */
function digestHex(key: string): string {
  return hash('sha256', key, 'hex');
}

interface Entry {
  digest: Buffer;
  principal: Principal;
}

/**
 * A master key's lasting tag, from its digest: dashboard sessions carry the tag of the key they were
 * signed in with (src/keys/ui-sessions.ts), so one signed in with an earlier master key is not honoured.
 */
function masterTagOf(digest: Buffer): string {
  return createHash('sha256').update('llm-proxy dashboard session master').update(digest).digest('base64url').slice(0, 22);
}

export class StaticKeyRing {
  private readonly entries = new Map<string, Entry>();
  private masterHex: string | undefined;
  private tag: string | undefined;

  /** `masterDigest` may come from a generated master key, of which only the hash is kept. */
  constructor(clientKeys: readonly string[], masterKey: string | undefined, masterDigest?: Buffer) {
    clientKeys.forEach((key, index) => {
      const digest = digestKey(key);
      this.add(digest, { keyId: `static-${index + 1}`, role: 'client', stableId: stableIdOf(digest) });
    });
    const master = masterKey === undefined ? masterDigest : digestKey(masterKey);
    if (master !== undefined) {
      this.add(master, { keyId: 'master', role: 'master' });
      this.masterHex = master.toString('hex');
      this.tag = masterTagOf(master);
    }
  }

  /** The master key's tag (masterTagOf); undefined when there is no master key, or it was retired. */
  get masterTag(): string | undefined {
    return this.tag;
  }

  /**
   * A reload replaced the master key: this (retired) ring no longer knows it, so the requests its
   * generation still runs cannot sign in with it, nor act as it past their authentication.
   */
  retireMaster(): void {
    if (this.masterHex !== undefined) this.entries.delete(this.masterHex);
    this.masterHex = undefined;
    this.tag = undefined;
  }

  private add(digest: Buffer, principal: Principal): void {
    this.entries.set(digest.toString('hex'), { digest, principal });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Looks a presented key up by digest; the final compare is constant-time on two 32-byte digests. */
  authenticate(presented: string): Principal | undefined {
    const hex = digestHex(presented);
    const entry = this.entries.get(hex);
    if (entry === undefined || !timingSafeEqual(entry.digest, Buffer.from(hex, 'hex'))) return undefined;
    return entry.principal;
  }
}
