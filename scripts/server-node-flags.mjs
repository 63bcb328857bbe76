// The Node.js flags the server runs with, wherever it is started (npm start, the benches; the
// systemd unit in docs/DEPLOY.md writes them out). `--max-semi-space-size=4`: V8's young
// generation grows to 2 × 16 MiB during startup and keeps it committed for as long as the
// process runs; 4 MiB semi-spaces hold a server's short-lived objects just as well (the relay
// bench relays as fast) and leave some 24 MiB more for sockets (issue 17: 10,000 authenticated
// sockets in 187 MiB instead of 203 MiB).
export const serverNodeFlags = ['--max-semi-space-size=4']
