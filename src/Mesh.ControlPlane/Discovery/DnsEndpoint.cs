using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using Mesh.ControlPlane.Hosting;
using Mesh.Core.Registry;

namespace Mesh.ControlPlane.Discovery;

/// <summary>
/// The registry over DNS, as Consul's servers and agents answer it (UDP and TCP, <c>--dns-port</c>,
/// default 8600), with ARSoft.Tools.Net's server and wire format. Answers come from the registry as it
/// is at the moment of the question (<see cref="DnsAnswers"/>), with <c>--dns-ttl</c> on every record
/// (default 0, as Consul: clients ask again rather than cache a dead instance).
/// </summary>
internal sealed partial class DnsEndpoint(ControlPlaneOptions options, ServiceRegistry registry, ILogger<DnsEndpoint> logger) : IHostedService, IDisposable
{
    private DnsServer? _server;

    /// <summary>Binds the ports and starts answering; Program calls it before the host starts, so a port in use stops the start with one line.</summary>
    public void Start()
    {
        if (_server is not null)
        {
            return;
        }
        var endpoint = new IPEndPoint(IPAddress.Parse(options.Listen), options.DnsPort);
        // A query gets 5 s to be answered; an idle TCP connection is closed after 2 minutes (ARSoft's defaults).
        var server = new DnsServer(new UdpServerTransport(endpoint, 5000), new TcpServerTransport(endpoint, 5000, 120_000));
        server.QueryReceived += OnQueryAsync;
        server.ExceptionThrown += (_, e) =>
        {
            Failed(logger, e.Exception.Message);
            return Task.CompletedTask;
        };
        try
        {
            server.Start();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // A port another process holds is a start-up error, as for the HTTP ports: nothing would answer.
            throw new StartupException($"DNS port {endpoint} cannot be bound ({e.Message}); pass --dns-port with a free port, or 0 to turn DNS off", e);
        }
        _server = server;
        Listening(logger, endpoint.ToString(), (int)options.DnsTtl.TotalSeconds);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    private Task OnQueryAsync(object sender, QueryReceivedEventArgs e)
    {
        if (e.Query is not DnsMessage query)
        {
            return Task.CompletedTask;
        }
        var response = query.CreateResponseInstance();
        response.IsRecursionAllowed = false;
        if (query.Questions.Count != 1)
        {
            response.ReturnCode = ReturnCode.FormatError;
            e.Response = response;
            return Task.CompletedTask;
        }
        var question = query.Questions[0];
        // A type the registry holds no records of (TXT, MX, ...) still learns whether the name exists.
        var (kind, hasRecords) = question.RecordType switch
        {
            RecordType.A => ((DnsRecordKind?)DnsRecordKind.A, true),
            RecordType.Aaaa => (DnsRecordKind.Aaaa, true),
            RecordType.Srv => (DnsRecordKind.Srv, true),
            RecordType.Any => (null, true),
            _ => (DnsRecordKind.A, false),
        };
        var (outcome, answers, additional) = DnsAnswers.Resolve(question.Name.ToString(), kind, registry.Instances);
        response.ReturnCode = outcome switch
        {
            DnsOutcome.Found => ReturnCode.NoError,
            DnsOutcome.NoSuchName => ReturnCode.NxDomain,
            _ => ReturnCode.Refused,
        };
        response.IsAuthoritiveAnswer = outcome != DnsOutcome.NotOurs;
        var ttl = (int)options.DnsTtl.TotalSeconds;
        if (hasRecords)
        {
            response.AnswerRecords.AddRange(answers.Select(a => Record(a, ttl)));
            response.AdditionalRecords.AddRange(additional.Select(a => Record(a, ttl)));
        }
        e.Response = response;
        return Task.CompletedTask;
    }

    private static DnsRecordBase Record(DnsAnswer answer, int ttl)
    {
        var name = DomainName.Parse(answer.Name);
        return answer.Kind switch
        {
            DnsRecordKind.A => new ARecord(name, ttl, answer.Address!),
            DnsRecordKind.Aaaa => new AaaaRecord(name, ttl, answer.Address!),
            DnsRecordKind.Srv => new SrvRecord(name, ttl, 1, 1, (ushort)answer.Port, DomainName.Parse(answer.Target!)),
            _ => new CNameRecord(name, ttl, DomainName.Parse(answer.Target!)),
        };
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _server?.Stop();
        return Task.CompletedTask;
    }

    public void Dispose() => _server?.Stop();

    [LoggerMessage(60, LogLevel.Information, "DNS on {Endpoint} (UDP and TCP): <service>.service.consul, <tag>.<service>.service.consul, <service>.<namespace>.svc.cluster.local; TTL {Ttl} s")]
    private static partial void Listening(ILogger logger, string endpoint, int ttl);

    [LoggerMessage(61, LogLevel.Warning, "DNS: {Reason}")]
    private static partial void Failed(ILogger logger, string reason);
}
