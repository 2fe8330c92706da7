// Package redistest starts a real redis-server for tests: on a Unix socket
// in a fresh directory, with no TCP port (so no port races), no
// persistence, and killed by its PID when the test ends. It offers the
// faults a shared-state store must survive: a stopped server (SIGSTOP),
// a restart that loses every key, and killed pub/sub connections.
//
// # Usage
//
//	srv := redistest.Start(t) // skips without redis-server unless CI is set
//	client := srv.Client(t)   // closed at cleanup
//	srv.Pause()               // SIGSTOP: commands hang until their deadline
//	srv.Resume()
//
// # Concurrency
//
// A Server's methods may be called from any goroutine.
package redistest
