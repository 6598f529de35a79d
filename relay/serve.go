package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/deadline"
	"brieftraeger/internal/tlspin"
	"brieftraeger/store"
)

// Options configures Serve. The zero value listens on 127.0.0.1:8443 with
// durable (fsync before acknowledgement) storage.
type Options struct {
	Listen           string // default "127.0.0.1:8443"; port 0 picks a free port
	MaxEnvelopeBytes int64  // default DefaultMaxEnvelopeBytes
	NoSync           bool   // unsafe: skip fsync before acknowledging; benchmarks only
	// NATSURL, if set, is an existing NATS server or cluster with JetStream
	// to keep the relay's state in, instead of the embedded server; its
	// own configuration decides durability. Replicas sets the streams'
	// replica count there (default 1; 3 for a cluster). NATSName names
	// this relay process among several that share NATSURL's streams
	// (store.Config.Name).
	NATSURL  string
	NATSName string
	Replicas int
	// StoreDir is where the embedded JetStream keeps its data; default
	// the data folder's "jetstream" (Dir.StoreDir). Each node of a cluster
	// on one machine needs its own.
	StoreDir string
	// Cluster, if set, makes this relay one node of a cluster of relays
	// sharing the data folder's keys (store.ClusterConfig; its TLS is
	// filled with the relay's certificate). Streams then have 3 replicas
	// unless Replicas says otherwise.
	Cluster *store.ClusterConfig
	Logger  *slog.Logger
	Now     func() time.Time
	// Ready, if set, is called with the address once the relay listens.
	Ready func(addr string)
	// MinFreeBytes is Config.MinFreeBytes: the free space kept for
	// delivery, below which new envelopes are refused.
	MinFreeBytes int64
	// Deadlines is Config.Deadlines: the delivery deadlines by which the
	// operator is shown overdue letters.
	Deadlines deadline.Deadlines
	// Invitations is Config.Invitations: who may open a channel by
	// invitation.
	Invitations string
}

// Serve runs the relay of the data folder d until ctx is done, then shuts
// down gracefully: it stops accepting, lets requests in flight finish (up
// to 30 seconds), and closes the store.
func Serve(ctx context.Context, d *Dir, opts Options) error {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8443"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StoreDir == "" {
		opts.StoreDir = d.StoreDir()
	}
	if opts.Cluster != nil {
		c := *opts.Cluster
		c.TLS = d.TLS
		opts.Cluster = &c
	}
	st, err := store.Open(ctx, store.Config{Dir: opts.StoreDir, URL: opts.NATSURL, Name: opts.NATSName, Replicas: opts.Replicas, Cluster: opts.Cluster,
		BodyHash: envelope.NewDigest, NoSync: opts.NoSync, MaxBodyBytes: opts.MaxEnvelopeBytes, Logger: opts.Logger})
	if err != nil {
		return fmt.Errorf("failed to open relay store: %w", err)
	}
	defer st.Close()
	rl, err := New(Config{
		Name: d.Descriptor.Name, ReceiptKey: d.ReceiptKey, AdminKey: d.AdminKey.Public().(ed25519.PublicKey), LogKey: d.LogKey,
		Store: st, MaxEnvelopeBytes: opts.MaxEnvelopeBytes, Now: opts.Now, Logger: opts.Logger, MinFreeBytes: opts.MinFreeBytes,
		Deadlines:   opts.Deadlines,
		Invitations: opts.Invitations,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", opts.Listen, err)
	}
	srv := &http.Server{
		Handler:           rl.Handler(),
		TLSConfig:         tlspin.ServerTLSConfig(d.TLS),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(rl.StopStreams)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	opts.Logger.Info("relay listening", "addr", ln.Addr().String(), "name", d.Descriptor.Name)
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	select {
	case err := <-done:
		return fmt.Errorf("relay stopped: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
	}
	rl.Close()
	opts.Logger.Info("relay stopped")
	return nil
}
