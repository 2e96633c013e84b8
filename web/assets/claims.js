// What an access token says about its holder, read on the page for display decisions only: the
// server checks the token (signaling/PROTOCOL.md) and refuses what it does not allow.

/**
 * The payload of a JWT access token ({room, name, grants: {publish, subscribe}, exp, ...}), or
 * null if token is not one the page can read.
 */
export function tokenClaims(token) {
  const part = typeof token === 'string' ? token.split('.')[1] : '';
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/** Whether token allows sending media; true when the page cannot tell (the server decides). */
export function maySend(token) {
  return tokenClaims(token)?.grants?.publish !== false;
}
