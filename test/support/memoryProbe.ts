// Preloaded into a server process under test (`node -r memoryProbe.js dist/cli.js …`): answers a 'memory' message on
// the IPC channel with the process's own figures, so a test asserts on the server's memory, not its own.
process.on('message', (message) => {
  if (message !== 'memory') return;
  process.send?.({
    rss: process.memoryUsage().rss,
    // ru_maxrss: the peak resident set since start, in KB on Linux (bytes on macOS).
    maxRss: process.resourceUsage().maxRSS * (process.platform === 'darwin' ? 1 : 1024),
  });
});
// The channel must not keep the server alive once it is told to stop.
process.channel?.unref();
