/** The node id of a daemon sharing a PostgreSQL state with others; undefined on SQLite alone. */
export function sharedNode(options: {
  readonly stateUrl: string | undefined;
  readonly nodeId: string;
}): string | undefined {
  return options.stateUrl === undefined ? undefined : options.nodeId;
}
