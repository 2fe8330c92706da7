// Package bench measures grpcbreaker's interceptors against no interceptor
// and against failsafe-go's failsafegrpc, in one run. It is a module of its
// own so that grpcbreaker never depends on a peer; it holds benchmarks
// only.
package bench
