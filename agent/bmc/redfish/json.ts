// A Redfish resource body as parsed JSON: properties looked up by name and narrowed where read.
export type Json = Record<string, unknown>;
