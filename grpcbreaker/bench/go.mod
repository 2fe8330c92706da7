module github.com/fusebox-go/fusebox/grpcbreaker/bench

go 1.26.0

replace (
	github.com/fusebox-go/fusebox => ../../
	github.com/fusebox-go/fusebox/grpcbreaker => ../
)

require (
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/fusebox-go/fusebox v0.0.0-00010101000000-000000000000
	github.com/fusebox-go/fusebox/grpcbreaker v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.85.0
)

require (
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260928230214-8a89bd6388cc // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
