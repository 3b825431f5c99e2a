-- Checks the nvim-lint parser (editors/nvim/nvim-lint.lua) and the ALE handler
-- (editors/vim/ale_linters/ttidef/tapesync.vim) on real `tapesync check --format json` output,
-- without the plugins: nvim-lint's parser is a plain function, and ALE's registration call is
-- stubbed. Run from the repository root:
--
--   TAPESYNC_BIN=target/debug/tapesync SMOKE_FILE=broken.ttidef \
--     nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/linters-smoke.lua"

local ok, err = pcall(function()
  local bin = os.getenv('TAPESYNC_BIN') or 'tapesync'
  local file = assert(os.getenv('SMOKE_FILE'), 'SMOKE_FILE is not set')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local output = vim.fn.system({ bin, 'check', '--format', 'json', vim.api.nvim_buf_get_name(buf) })
  local lines = {}

  local linter = dofile('editors/nvim/nvim-lint.lua')
  for _, d in ipairs(linter.parser(output, buf)) do
    table.insert(lines, string.format('nvim-lint %d:%d-%d:%d %s %s', d.lnum + 1, d.col, d.end_lnum + 1,
      d.end_col, d.code, vim.split(d.message, '\n')[1]))
  end

  -- ALE's registration function, stubbed as an autoload script on a temporary runtimepath.
  local stub = vim.fn.tempname()
  vim.fn.mkdir(stub .. '/autoload/ale', 'p')
  vim.fn.writefile({
    'function! ale#linter#Define(filetype, linter) abort',
    '  let g:ale_defined = [a:filetype, a:linter]',
    'endfunction',
  }, stub .. '/autoload/ale/linter.vim')
  vim.opt.runtimepath:append(stub)
  vim.opt.runtimepath:append(vim.fn.getcwd() .. '/editors/vim')
  vim.cmd('source editors/vim/ale_linters/ttidef/tapesync.vim')
  local defined = vim.g.ale_defined
  table.insert(lines, string.format('ale defined: %s %s (%s)', defined[1], defined[2].name, defined[2].command))
  for _, d in ipairs(vim.fn['ale_linters#ttidef#tapesync#Handle'](buf, vim.split(output, '\n'))) do
    table.insert(lines, string.format('ale %s %d:%d-%d:%d %s %s', d.type, d.lnum, d.col, d.end_lnum, d.end_col,
      d.code, d.text))
  end
  io.stdout:write(table.concat(lines, '\n') .. '\n')
end)
if not ok then
  io.stderr:write('linters-smoke failed: ' .. tostring(err) .. '\n')
  vim.cmd('cquit!')
end
vim.cmd('qall!')
