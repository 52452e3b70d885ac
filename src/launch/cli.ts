/** The `collective` command line. Subcommands grow in the launch and selection issues. */
export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write('usage: collective <command>\n\ncommands:\n  (none yet)\n');
    return 0;
  }
  process.stderr.write(`collective: unknown command '${command}'; run 'collective --help'\n`);
  return 2;
}
