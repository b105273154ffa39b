using Mesh.Core.Config.Model;

namespace Mesh.Core.Routing;

/// <summary>One compiled match block: every condition must hold.</summary>
public sealed class RequestMatcher
{
    private readonly StringMatcher? _uri;
    private readonly StringMatcher? _method;
    private readonly StringMatcher? _authority;
    private readonly (string Name, StringMatcher Matcher)[] _headers;
    private readonly (string Name, StringMatcher Matcher)[] _queryParams;
    private readonly (string Name, StringMatcher Matcher)[] _withoutHeaders;

    public RequestMatcher(HttpMatchRequest match)
    {
        _uri = match.Uri is null ? null : new StringMatcher(match.Uri, match.IgnoreUriCase);
        UriPrefix = match.Uri?.Prefix;
        _method = match.Method is null ? null : new StringMatcher(match.Method);
        _authority = match.Authority is null ? null : new StringMatcher(match.Authority);
        _headers = match.Headers.Select(h => (h.Key, new StringMatcher(h.Value))).ToArray();
        _queryParams = match.QueryParams.Select(q => (q.Key, new StringMatcher(q.Value))).ToArray();
        _withoutHeaders = match.WithoutHeaders.Select(h => (h.Key, new StringMatcher(h.Value))).ToArray();
    }

    /// <summary>The uri prefix this block matches on, if it does; a rewrite replaces that part of the path.</summary>
    public string? UriPrefix { get; }

    public bool Matches<TRequest>(in TRequest request) where TRequest : IRouteRequest
    {
        if (_uri is not null && !_uri.IsMatch(request.Path))
        {
            return false;
        }
        if (_method is not null && !_method.IsMatch(request.Method))
        {
            return false;
        }
        if (_authority is not null && !_authority.IsMatch(request.Authority))
        {
            return false;
        }
        foreach (var (name, matcher) in _headers)
        {
            if (!matcher.IsMatch(request.GetHeader(name)))
            {
                return false;
            }
        }
        foreach (var (name, matcher) in _queryParams)
        {
            if (!matcher.IsMatch(request.GetQuery(name)))
            {
                return false;
            }
        }
        foreach (var (name, matcher) in _withoutHeaders)
        {
            if (matcher.IsMatch(request.GetHeader(name)))
            {
                return false;
            }
        }
        return true;
    }
}
