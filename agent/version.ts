// The agent's version: package.json's, which is also the .deb's and the appliance image's version.
import { readFileSync } from 'node:fs';

/** Read next to the build output (dist/agent/ → package.json two levels up), as installed. */
export const AGENT_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
