using System.Net.Http;
using System.Net.Sockets;
using Mesh.Core.Resilience;
using Mesh.Sidecar.Resilience;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Sidecar.Tests.Resilience;

public sealed class AttemptClassificationTests
{
    // The shape SocketsHttpHandler gives when a draining server closes its HTTP/2 connection (GOAWAY NO_ERROR)
    // with a stream it never answered: seen in a rolling restart, where it failed a call the default policy should retry.
    private static HttpRequestException ClosedByServer(long errorCode) =>
        new(HttpRequestError.HttpProtocolError, "The HTTP/2 server closed the connection.",
            new HttpProtocolException(errorCode, $"The HTTP/2 server closed the connection. HTTP/2 error code {errorCode}.", null));

    [Fact]
    public void AStreamDroppedByAGracefulClose_OrRefused_IsARefusedStream_WhichTheDefaultPolicyRetries()
    {
        foreach (var code in new long[] { 0x0, 0x7 })
        {
            var (status, failure) = AttemptClassifier.Classify(ForwarderError.Request, ClosedByServer(code));
            Assert.Equal((502, AttemptFailure.RefusedStream), (status, failure));
            Assert.True(RetryPolicy.IstioDefault.RetriesFailure(failure), $"error code {code}");
        }
        // Also when the protocol exception is thrown bare.
        Assert.Equal(AttemptFailure.RefusedStream, AttemptClassifier.Classify(ForwarderError.Request, new HttpProtocolException(0x7, "refused", null)).Failure);
    }

    [Fact]
    public void OtherFailures_KeepTheirKind()
    {
        // A protocol error or an internal error is a reset: the server may have acted on the request.
        Assert.Equal(AttemptFailure.Reset, AttemptClassifier.Classify(ForwarderError.Request, ClosedByServer(0x1)).Failure);
        Assert.Equal(AttemptFailure.Reset, AttemptClassifier.Classify(ForwarderError.Request, ClosedByServer(0x2)).Failure);
        Assert.False(RetryPolicy.IstioDefault.RetriesFailure(AttemptFailure.Reset));
        // Once response headers arrived, a graceful close is not a refusal.
        Assert.Equal(AttemptFailure.Reset, AttemptClassifier.Classify(ForwarderError.ResponseHeaders, ClosedByServer(0x0)).Failure);
        Assert.Equal(AttemptFailure.ConnectFailure, AttemptClassifier.Classify(ForwarderError.Request,
            new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused", new SocketException((int)SocketError.ConnectionRefused))).Failure);
        Assert.Equal(new AttemptOutcome(504, AttemptFailure.PerTryTimeout), AttemptClassifier.Classify(ForwarderError.RequestTimedOut, null));
        Assert.Equal(new AttemptOutcome(0, AttemptFailure.None), AttemptClassifier.Classify(ForwarderError.RequestCanceled, new OperationCanceledException()));
    }

    [Fact]
    public void ACallerThatLeavesMidResponse_IsNotTheEndpointsFailure()
    {
        // Status 0 keeps it out of outlier detection: a load generator stopping with 32 calls in flight
        // used to count as five consecutive 5xx and eject the only, healthy, endpoint.
        foreach (var error in new[] { ForwarderError.ResponseBodyClient, ForwarderError.ResponseBodyCanceled, ForwarderError.UpgradeResponseClient, ForwarderError.UpgradeRequestCanceled })
        {
            Assert.Equal(new AttemptOutcome(0, AttemptFailure.None), AttemptClassifier.Classify(error, new IOException("The client reset the request stream.")));
        }
        // Kestrel cutting a caller that trickles its body fails the request to the endpoint too.
        var tooSlow = new HttpRequestException("Error while copying content to a stream.", new IOException("copy failed", new Microsoft.AspNetCore.Http.BadHttpRequestException("Reading the request body timed out due to data arriving too slowly.", 408)));
        Assert.Equal(new AttemptOutcome(0, AttemptFailure.None), AttemptClassifier.Classify(ForwarderError.Request, tooSlow));
        Assert.Equal(new AttemptOutcome(0, AttemptFailure.None), AttemptClassifier.Classify(ForwarderError.Request, new AggregateException(new IOException(), tooSlow)));
        // The endpoint failing mid-body is still its failure.
        Assert.Equal(new AttemptOutcome(502, AttemptFailure.Reset), AttemptClassifier.Classify(ForwarderError.ResponseBodyDestination, new IOException("The response ended prematurely.")));
        Assert.Equal(new AttemptOutcome(502, AttemptFailure.Reset), AttemptClassifier.Classify(ForwarderError.UpgradeResponseDestination, null));
    }
}
