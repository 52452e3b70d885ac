#!/usr/bin/env node
// The `collective` command. The CLI itself lives in src/launch/cli.ts (built to dist/launch/cli.js).
import('../dist/launch/cli.js')
  .then((cli) => cli.main(process.argv.slice(2)))
  .then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (error) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
