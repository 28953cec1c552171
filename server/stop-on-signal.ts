/**
 * Resolves once SIGINT or SIGTERM arrived and `close` finished (its error is printed, not thrown).
 * A second Ctrl+C exits at once with 130. `running` says what happens to the running prompt.
 */
export function stopOnSignal(close: () => Promise<void>, running: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.once('SIGINT', () => process.exit(130)); // a second Ctrl+C does not wait
      console.error(`${signal}: stopping (${running})`);
      close().then(resolve, (e) => { console.error(e); resolve(); });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
