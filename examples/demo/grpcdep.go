package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/grpcbreaker"
)

// The simulated external API's gRPC service: one unary method, written by
// hand (a ServiceDesc and a codec that passes bytes through), so the demo
// needs no generated protobuf code.
const (
	externalAPIService = "fusebox.demo.ExternalAPI"
	getDataMethod      = "/" + externalAPIService + "/GetData"
	// giveUpMetadata asks the service to hold the call until the caller
	// gives up, as giveUpHeader does over HTTP.
	giveUpMetadata = "x-demo-give-up"
)

// rawMessage is a message of the external API: a JSON document, sent as it
// is.
type rawMessage []byte

// rawCodec marshals a *rawMessage as its bytes. It is forced on both the
// server and the client, so its name is only the content-subtype on the
// wire (application/grpc+raw).
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return *m, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}

// externalAPIServer is what the service's handler calls; ServiceDesc checks
// that the registered implementation has it.
type externalAPIServer interface {
	getData(ctx context.Context, req *rawMessage) (*rawMessage, error)
}

var externalAPIDesc = grpc.ServiceDesc{
	ServiceName: externalAPIService,
	HandlerType: (*externalAPIServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "GetData",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(rawMessage)
			if err := dec(in); err != nil {
				return nil, err
			}
			handle := func(ctx context.Context, req any) (any, error) {
				return srv.(externalAPIServer).getData(ctx, req.(*rawMessage))
			}
			if interceptor == nil {
				return handle(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: getDataMethod}, handle)
		},
	}},
}

// grpcDependency is a simulated dependency served over gRPC on a loopback
// port, and the client connection the demo calls it through: its unary
// calls go through grpcbreaker's client interceptor, under the breaker
// named after the dependency.
type grpcDependency struct {
	a    *app
	d    downstream
	addr string
	srv  *grpc.Server
	conn *grpc.ClientConn
}

// serveGRPC starts d's gRPC server and connects a client to it.
func (a *app) serveGRPC(d downstream) (*grpcDependency, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &grpcDependency{a: a, d: d, addr: ln.Addr().String()}
	g.srv = grpc.NewServer(
		grpc.ForceServerCodec(rawCodec{}),
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
	)
	g.srv.RegisterService(&externalAPIDesc, g)
	// The breaker of every call on this connection is the dependency's,
	// created with its options by newApp; by default the interceptor
	// would name it after the target, a loopback address that changes
	// with every run.
	name := d.name
	g.conn, err = grpc.NewClient("passthrough:///"+g.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(grpcbreaker.UnaryClientInterceptor(a.reg,
			grpcbreaker.WithNamer(func(string, string) string { return name }))),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
	)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	a.serving.Go(func() { _ = g.srv.Serve(ln) }) // stopped by close
	return g, nil
}

// getData answers one call by the dependency's schedule: Unavailable
// during an outage or for a stray error.
func (g *grpcDependency) getData(ctx context.Context, _ *rawMessage) (*rawMessage, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(giveUpMetadata)) > 0 {
		<-ctx.Done() // the caller gives up first
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if !g.a.answer(g.d) {
		return nil, status.Error(codes.Unavailable, g.d.name+" unavailable")
	}
	resp := rawMessage(`{"ok":true}`)
	return &resp, nil
}

// call makes one GetData call through the breaker; with giveUp the caller
// gives up after 5ms.
func (g *grpcDependency) call(ctx context.Context, giveUp bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if giveUp {
		ctx = metadata.AppendToOutgoingContext(ctx, giveUpMetadata, "1")
		t := time.AfterFunc(5*time.Millisecond, cancel)
		defer t.Stop()
	}
	req, resp := rawMessage(`{"query":"data"}`), rawMessage(nil)
	return g.conn.Invoke(ctx, getDataMethod, &req, &resp)
}

// close closes the client connection and stops the server, ending the
// calls in flight.
func (g *grpcDependency) close() {
	_ = g.conn.Close()
	g.srv.Stop()
}
