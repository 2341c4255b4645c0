// Boot tokens travel in URL paths (/v1/boot/<token>/config); they must never reach a log line,
// whatever spelling of the URL a client sends. Pure: what a log line may show of a URL or a text.

/** A run of the characters a boot token is made of, long enough to be one (BootTokens accepts 16–64). */
const TOKEN_RUN = /[A-Za-z0-9_-]{16,}/;
const BOOT = /boot/gi;
const MAX_DECODES = 4;

/** Percent-escapes decoded again and again (double encoding), invalid ones left as they are. */
function decodeRepeatedly(text: string): string {
  let out = text;
  for (let i = 0; i < MAX_DECODES && out.includes('%'); i += 1) {
    const next = out.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === out) break;
    out = next;
  }
  return out;
}

/**
 * `url` with every raw path segment that holds a token-shaped run after a `boot` segment replaced
 * by `<token>`, and the query too if it holds one. Segments are judged decoded (`%62oot` is
 * `boot`, `%2F` and `\` split), in any case (`/V1/BOOT/…`), wherever they stand (`//v1/boot/…`,
 * `/v1/boot/<token>/config/`), and a token glued to `boot` or to other text (`boot<token>`,
 * `<token>x`) counts too. Other URLs come back unchanged.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  let afterBoot = false;
  const segments = path.split('/').map((raw) => {
    let secret = false;
    for (const part of decodeRepeatedly(raw).split(/[/\\]/)) {
      const hasBoot = /boot/i.test(part);
      if ((afterBoot || hasBoot) && TOKEN_RUN.test(hasBoot ? part.replace(BOOT, ' ') : part)) secret = true;
      if (hasBoot) afterBoot = true;
    }
    return secret ? '<token>' : raw;
  });
  const query = q < 0 ? '' : afterBoot && TOKEN_RUN.test(decodeRepeatedly(url.slice(q))) ? '?<redacted>' : url.slice(q);
  return segments.join('/') + query;
}

/** `text` (a log message, an error message or stack) with each word that mentions `boot` redacted as a URL. */
export function redactText(text: string): string {
  return /boot/i.test(decodeRepeatedly(text)) ? text.replace(/\S+/g, (word) => (/boot/i.test(decodeRepeatedly(word)) ? redactUrl(word) : word)) : text;
}
