# Bash completion for the `monitor` command (news-monitor).
#
# Install:  cp deploy/monitor-completion.bash /etc/bash_completion.d/monitor
#      or:  echo 'source /path/to/monitor-completion.bash' >> ~/.bashrc
#
# Commands and options are read from `monitor --help` and `monitor COMMAND --help` when
# you press Tab, so this file never lags behind the installed version.

_monitor_complete() {
    local cur prev cmd word i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        -c|--config|--jsonl|--data-dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            -c|--config) ((i++)) ;;
            -*) ;;
            *) cmd=$word; break ;;
        esac
    done
    if [[ -z $cmd && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$(monitor --help 2>/dev/null \
            | sed -n 's/^    \([a-z][a-z-]*\) .*/\1/p')" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(monitor ${cmd:+"$cmd"} --help 2>/dev/null \
            | grep -o -- '--\?[a-zA-Z][a-zA-Z-]*' | grep '^-' | sort -u)" -- "$cur"))
    fi
}
complete -o default -F _monitor_complete monitor
