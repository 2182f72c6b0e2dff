<#
.SYNOPSIS
Installs readerlab-agent.exe as the Windows service "readerlab-agent" in a test image, or
removes it (-Uninstall).

.DESCRIPTION
Run once, as an administrator, inside the Windows image readerlab will boot. The script:
  - copies readerlab-agent.exe to -Destination (default "C:\Program Files\readerlab");
  - creates (or reconfigures) the service "readerlab-agent": automatic start, LocalSystem
    (it may stop SCardSvr and opens reader devices), command line
    "<Destination>\readerlab-agent.exe" --service [--port <Port>], restarted by Windows
    if it crashes;
  - sets the Smart Card service (SCardSvr) to automatic start and starts it;
  - starts the agent (unless -NoStart).
Running it again gives the same result (it stops the agent first so the executable can be
replaced). The agent's log is readerlab-agent.log beside the executable.

.PARAMETER Source
The readerlab-agent.exe to install (default: the one beside this script).

.PARAMETER Destination
The folder the agent is copied to.

.PARAMETER Port
The agent's port: COM1, COM2, ... or a device path (\\.\...). Default: none, i.e. the
virtio-serial port readerlab.agent when the virtio drivers are installed, else COM1.

.PARAMETER NoStart
Configure everything but do not start the agent now (it starts at the next boot).

.PARAMETER Uninstall
Stop and delete the service and remove the installed executable. SCardSvr is left as it is.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install-agent.ps1

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install-agent.ps1 -Port COM1

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install-agent.ps1 -Uninstall
#>
[CmdletBinding()]
param(
    [string]$Source = (Join-Path $PSScriptRoot 'readerlab-agent.exe'),
    [string]$Destination = (Join-Path $env:ProgramFiles 'readerlab'),
    [string]$Port = '',
    [switch]$NoStart,
    [switch]$Uninstall
)

Set-StrictMode -Version 2
$ErrorActionPreference = 'Stop'

$ServiceName = 'readerlab-agent'
$ExeName = 'readerlab-agent.exe'

function Assert-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'install-agent.ps1 must run as an administrator (it creates a service).'
    }
}

function Get-AgentService {
    return Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
}

# Stops the agent if it runs. A service still waiting for its port is START_PENDING, and
# Windows sends no stop to a service in that state: its process is ended instead.
function Stop-Agent {
    $service = Get-AgentService
    if ($null -eq $service -or $service.Status -eq 'Stopped') { return }
    Write-Host "Stopping service $ServiceName (state $($service.Status))..."
    if ($service.Status -eq 'Running') {
        $service.Stop()
        try {
            $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(15))
            return
        } catch {
            Write-Host "  it did not stop within 15 s."
        }
    }
    # Disabled first: the restart-on-crash action must not bring the killed agent back (the
    # install sets automatic start again).
    Set-Service -Name $ServiceName -StartupType Disabled
    $processId = (Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'").ProcessId
    if ($processId -gt 0) {
        Write-Host "  ending process $processId."
        Stop-Process -Id $processId -Force -ErrorAction SilentlyContinue
    }
    $service.Refresh()
    $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(15))
}

function Uninstall-Agent {
    Stop-Agent
    if ($null -ne (Get-AgentService)) {
        & sc.exe delete $ServiceName | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe delete $ServiceName failed (exit code $LASTEXITCODE)." }
        Write-Host "Service $ServiceName deleted."
    } else {
        Write-Host "Service $ServiceName is not installed."
    }
    $installed = Join-Path $Destination $ExeName
    if (Test-Path -LiteralPath $installed) {
        Remove-Item -LiteralPath $installed -Force
        Write-Host "Removed $installed (its log, if any, is left in $Destination)."
    }
}

function Install-Agent {
    if ($Port -ne '' -and $Port -notmatch '^(COM[0-9]{1,3}|\\\\[^"\s]+)$') {
        throw "-Port '$Port': expected COM1, COM2, ... or a device path such as \\.\Global\readerlab.agent."
    }
    if (-not (Test-Path -LiteralPath $Source -PathType Leaf)) {
        throw "-Source '$Source': no such file (build readerlab-agent.exe with cross/windows, or pass -Source)."
    }

    Stop-Agent
    New-Item -ItemType Directory -Path $Destination -Force | Out-Null
    $installed = Join-Path (Resolve-Path -LiteralPath $Destination).Path $ExeName
    if ((Resolve-Path -LiteralPath $Source).Path -ne $installed) {
        Copy-Item -LiteralPath $Source -Destination $installed -Force
        Write-Host "Copied $Source to $installed."
    }

    $commandLine = "`"$installed`" --service"
    if ($Port -ne '') { $commandLine += " --port $Port" }
    $service = Get-AgentService
    if ($null -eq $service) {
        New-Service -Name $ServiceName -BinaryPathName $commandLine -DisplayName 'readerlab agent' `
            -Description 'Serves readerlab''s test host over the virtio-serial or COM port (PROTOCOL.md).' `
            -StartupType Automatic | Out-Null
        Write-Host "Service $ServiceName created: $commandLine"
    } else {
        # The command line through Win32_Service.Change (sc.exe would need quotes inside an
        # argument, which PowerShell versions pass differently); start mode and account by sc.exe.
        $wmi = Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
        $result = Invoke-CimMethod -InputObject $wmi -MethodName Change -Arguments @{ PathName = $commandLine }
        if ($result.ReturnValue -ne 0) {
            throw "Changing the command line of $ServiceName failed (Win32_Service.Change returned $($result.ReturnValue))."
        }
        & sc.exe config $ServiceName start= auto obj= LocalSystem | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe config $ServiceName start= auto obj= LocalSystem failed: $LASTEXITCODE." }
        Write-Host "Service $ServiceName reconfigured: $commandLine"
    }
    # Restart after a crash: 5 s, 5 s, then 5 s again; the failure count resets after a day.
    & sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/5000 | Out-Null
    if ($LASTEXITCODE -ne 0) { Write-Warning "sc.exe failure $ServiceName (restart on crash) failed: $LASTEXITCODE." }

    Set-Service -Name SCardSvr -StartupType Automatic
    Write-Host 'Smart Card service (SCardSvr) set to automatic start.'
    $scardsvr = Get-Service -Name SCardSvr
    if ($scardsvr.Status -ne 'Running') {
        try {
            Start-Service -Name SCardSvr
            Write-Host 'SCardSvr started.'
        } catch {
            Write-Warning "SCardSvr did not start now ($($_.Exception.Message)); it starts at the next boot."
        }
    }

    if ($NoStart) {
        Write-Host "Not starting $ServiceName (-NoStart): it starts at the next boot."
        return
    }
    $service = Get-AgentService
    $service.Start()
    try {
        $service.WaitForStatus('Running', [TimeSpan]::FromSeconds(15))
        Write-Host "Service $ServiceName is running (its ready line is written on the port)."
    } catch {
        $service.Refresh()
        Write-Warning ("Service $ServiceName is $($service.Status) after 15 s: it keeps retrying a port " +
            "that does not open. See $(Join-Path (Split-Path $installed) 'readerlab-agent.log').")
    }
}

Assert-Administrator
if ($Uninstall) { Uninstall-Agent } else { Install-Agent }
