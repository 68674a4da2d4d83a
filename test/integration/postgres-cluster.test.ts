import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { removeAllPostgres, startPostgres } from '../helpers/postgres.js';

afterEach(() => removeAllPostgres());

describe("a PostgreSQL cluster of the test's own (for the state on PostgreSQL)", () => {
  it('starts in a second or so with fsync on, answers, restarts with its data, and goes away', async () => {
    const started = performance.now();
    const server = await startPostgres();
    expect(performance.now() - started).toBeLessThan(30_000);
    const query = async (sql: string) => {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    };
    expect(await query('SHOW fsync')).toEqual([{ fsync: 'on' }]);
    await query('CREATE TABLE t (x int); INSERT INTO t VALUES (42)');
    server.stop();
    await expect(query('SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    server.start();
    expect(await query('SELECT x FROM t')).toEqual([{ x: 42 }]);
  }, 120_000);
});
