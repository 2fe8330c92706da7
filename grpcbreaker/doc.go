// Package grpcbreaker puts circuit breakers around gRPC clients and
// servers, judging each call by its status code the way gRPC means it.
package grpcbreaker
