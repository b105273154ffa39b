using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.EventEmitters;

namespace Mesh.Cli;

/// <summary>
/// Writes strings of several lines (a diff, a YAML document) as literal blocks (<c>|</c>) in <c>-o yaml</c>,
/// so they read as they are; the default folds them into lines separated by blank ones.
/// </summary>
internal sealed class LiteralMultilineEmitter(IEventEmitter next) : ChainedEventEmitter(next)
{
    public override void Emit(ScalarEventInfo eventInfo, IEmitter emitter)
    {
        if (eventInfo.Source.Value is string text && text.Contains('\n'))
        {
            eventInfo.Style = ScalarStyle.Literal;
        }
        base.Emit(eventInfo, emitter);
    }
}
