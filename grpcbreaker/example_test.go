package grpcbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

func ExampleUnaryClientInterceptor() {
	// A dependency that is down.
	client, stop := serve(exampleService{err: status.Error(codes.Unavailable, "overloaded")}, nil)
	defer stop()

	reg := breaker.NewRegistry(breaker.WithFailureThreshold(2))
	conn, err := grpc.NewClient("passthrough:///inventory",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(client.dial),
		grpc.WithChainUnaryInterceptor(grpcbreaker.UnaryClientInterceptor(reg)),
		grpc.WithChainStreamInterceptor(grpcbreaker.StreamClientInterceptor(reg)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	inventory := testgrpc.NewTestServiceClient(conn)

	for range 3 {
		_, err := inventory.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		var oe *breaker.OpenError
		if errors.As(err, &oe) { // errors.Is(err, breaker.ErrOpen) holds too
			fmt.Printf("not sent: %s is %s (status %s)\n", oe.Name(), oe.State(), status.Code(err))
			continue
		}
		fmt.Println(status.Code(err))
	}
	// Output:
	// Unavailable
	// Unavailable
	// not sent: passthrough:///inventory is open (status Unavailable)
}

func ExampleUnaryServerInterceptor() {
	clock := breakertest.NewClock(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	reg := breaker.NewRegistry(
		breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(30*time.Second),
		breaker.WithClock(clock), // a manual clock, for a stable output
	)
	client, stop := serve(exampleService{err: status.Error(codes.Internal, "database down")},
		[]grpc.ServerOption{
			grpc.ChainUnaryInterceptor(grpcbreaker.UnaryServerInterceptor(reg)),
			grpc.ChainStreamInterceptor(grpcbreaker.StreamServerInterceptor(reg)),
		})
	defer stop()
	conn, err := grpc.NewClient("passthrough:///orders",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(client.dial))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	orders := testgrpc.NewTestServiceClient(conn)

	for range 2 {
		var trailer metadata.MD
		_, err := orders.UnaryCall(context.Background(), &testgrpc.SimpleRequest{}, grpc.Trailer(&trailer))
		fmt.Println(status.Convert(err).Message(), trailer.Get("grpc-retry-pushback-ms"))
		clock.Advance(10 * time.Second)
	}
	// Output:
	// database down []
	// breaker: circuit "grpc.testing.TestService" is open [20000]
}

func ExampleStreamClientInterceptor() {
	client, stop := serve(exampleService{}, nil)
	defer stop()

	reg := breaker.NewRegistry()
	conn, err := grpc.NewClient("passthrough:///feed",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(client.dial),
		grpc.WithChainStreamInterceptor(grpcbreaker.StreamClientInterceptor(reg)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	feed := testgrpc.NewTestServiceClient(conn)

	// A stream read to its end is a success.
	stream, err := feed.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{}, {}, {}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for {
		if _, err := stream.Recv(); err != nil {
			fmt.Println(n, "messages, then", err == io.EOF)
			break
		}
		n++
	}

	// A stream abandoned by its caller is ignored.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err = feed.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{
		ResponseParameters: []*testgrpc.ResponseParameters{{}, {}, {}},
		ResponseStatus:     &testgrpc.EchoStatus{Message: "hold"}, // the server holds the stream open
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = stream.Recv()
	cancel()
	for err == nil {
		_, err = stream.Recv()
	}
	fmt.Println(status.Code(err))

	b, _ := reg.Lookup("passthrough:///feed")
	s := b.Stats()
	fmt.Println("successes:", s.TotalSuccesses, "ignored:", s.TotalIgnored)
	// Output:
	// 3 messages, then true
	// Canceled
	// successes: 1 ignored: 1
}

func ExampleWithFailurePredicate() {
	// This dependency answers Aborted when it is overloaded.
	client, stop := serve(exampleService{err: status.Error(codes.Aborted, "try later")}, nil)
	defer stop()

	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
	overloaded := func(code codes.Code) bool {
		return code == codes.Aborted || grpcbreaker.DefaultFailure(code)
	}
	conn, err := grpc.NewClient("passthrough:///ledger",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(client.dial),
		grpc.WithChainUnaryInterceptor(grpcbreaker.UnaryClientInterceptor(reg,
			grpcbreaker.WithFailurePredicate(overloaded),
			grpcbreaker.WithPerMethod(),
		)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ledger := testgrpc.NewTestServiceClient(conn)

	for range 2 {
		_, err := ledger.UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
		fmt.Println(status.Code(err), errors.Is(err, breaker.ErrOpen))
	}
	for _, b := range reg.All() {
		fmt.Println(b.Name(), b.State())
	}
	// Output:
	// Aborted false
	// Unavailable true
	// passthrough:///ledger/grpc.testing.TestService/UnaryCall open
}

func ExampleDefaultFailure() {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if grpcbreaker.DefaultFailure(c) {
			fmt.Println(c)
		}
	}
	// Output:
	// Unknown
	// DeadlineExceeded
	// ResourceExhausted
	// Internal
	// Unavailable
	// DataLoss
}

// exampleService answers UnaryCall with err, and streams the messages
// asked for, then ends with err, or holds the stream open until the client
// goes when asked to "hold".
type exampleService struct {
	testgrpc.UnimplementedTestServiceServer
	err error
}

func (s exampleService) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &testgrpc.SimpleResponse{}, nil
}

func (s exampleService) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for range req.GetResponseParameters() {
		if err := ss.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	if req.GetResponseStatus().GetMessage() == "hold" {
		<-ss.Context().Done()
		return ss.Context().Err()
	}
	return s.err
}

// exampleListener dials the in-memory server of an example.
type exampleListener struct{ lis *bufconn.Listener }

func (l exampleListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	return l.lis.DialContext(ctx)
}

// serve starts svc over bufconn with opts; stop stops it.
func serve(svc testgrpc.TestServiceServer, opts []grpc.ServerOption) (l exampleListener, stop func()) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(srv, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return exampleListener{lis}, func() {
		srv.Stop()
		<-done
	}
}
