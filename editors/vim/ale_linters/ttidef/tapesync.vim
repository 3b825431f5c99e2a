" ALE linter for .ttidef files, from `tapesync check --format json` (docs/editors.md).
" Put this folder (editors/vim) on 'runtimepath' and set the filetype, e.g.
"   set runtimepath+=/path/to/tapesync/editors/vim
"   autocmd BufRead,BufNewFile *.ttidef setfiletype ttidef
" The report's columns count characters; ALE wants byte columns, converted per line here.

function! ale_linters#ttidef#tapesync#Handle(buffer, lines) abort
    try
        let l:report = json_decode(join(a:lines, "\n"))
    catch
        return []
    endtry
    if type(l:report) isnot v:t_dict
        return []
    endif
    let l:this = fnamemodify(bufname(a:buffer), ':p')
    let l:output = []
    for l:d in get(l:report, 'diagnostics', [])
        " Problems inside included files belong to those files.
        if fnamemodify(l:d.file, ':p') isnot# l:this
            continue
        endif
        let l:text = get(getbufline(a:buffer, l:d.line), 0, '')
        let l:end_text = get(getbufline(a:buffer, l:d.end_line), 0, '')
        let l:col = byteidx(l:text, l:d.column - 1)
        let l:end_col = byteidx(l:end_text, max([l:d.end_column - 2, 0]))
        let l:message = l:d.message
        if type(get(l:d, 'help', v:null)) is v:t_string
            let l:message .= ' (help: ' . l:d.help . ')'
        endif
        call add(l:output, {
        \   'lnum': l:d.line,
        \   'col': (l:col < 0 ? len(l:text) : l:col) + 1,
        \   'end_lnum': l:d.end_line,
        \   'end_col': (l:end_col < 0 ? len(l:end_text) : l:end_col) + 1,
        \   'type': l:d.severity is# 'error' ? 'E' : l:d.severity is# 'warning' ? 'W' : 'I',
        \   'code': l:d.code,
        \   'text': l:message,
        \})
    endfor
    return l:output
endfunction

call ale#linter#Define('ttidef', {
\   'name': 'tapesync',
\   'executable': 'tapesync',
\   'command': '%e check --format json %s',
\   'callback': 'ale_linters#ttidef#tapesync#Handle',
\   'output_stream': 'stdout',
\   'lint_file': 1,
\})
